package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series of a scrape: its labels and value (for a histogram
// or summary, its observation count, and Total the sum of the
// observations).
type Sample struct {
	Labels map[string]string
	Value  float64
	Total  float64
}

// Scrape is a parsed /metrics page: the samples of each metric family.
type Scrape map[string][]Sample

// Sum returns the sum of the values of name's series whose labels include
// every name=value pair of match (given as name, value, name, value...).
func (s Scrape) Sum(name string, match ...string) float64 {
	var t float64
next:
	for _, x := range s[name] {
		for i := 0; i+1 < len(match); i += 2 {
			if x.Labels[match[i]] != match[i+1] {
				continue next
			}
		}
		t += x.Value
	}
	return t
}

// Has reports whether the scrape holds metric name.
func (s Scrape) Has(name string) bool {
	_, ok := s[name]
	return ok
}

// Read parses a scrape in the Prometheus text format. Bad input is an
// error, never a panic.
func Read(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: read: %w", err)
	}
	return fromFamilies(fams), nil
}

// Gather reads the metric set in process, as a scrape of its handler would
// (the console shows it without an HTTP round trip).
func (m *Metrics) Gather() (Scrape, error) {
	fams, err := m.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	byName := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return fromFamilies(byName), nil
}

func fromFamilies(fams map[string]*dto.MetricFamily) Scrape {
	out := Scrape{}
	for name, f := range fams {
		var ss []Sample
		for _, m := range f.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			s.Value = value(f.GetType(), m)
			s.Total = m.GetHistogram().GetSampleSum() + m.GetSummary().GetSampleSum()
			ss = append(ss, s)
		}
		out[name] = ss
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// Fetch scrapes url (an agent's /metrics) with client in the text format.
func Fetch(ctx context.Context, client *http.Client, url string) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: fetch %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: fetch %s: %s", url, resp.Status)
	}
	s, err := Read(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("metrics: fetch %s: %w", url, err)
	}
	return s, nil
}
