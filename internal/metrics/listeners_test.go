package metrics

import "testing"

// Two listeners' counts reach the scrape apart, read at scrape time.
func TestListenerCountsReachTheScrape(t *testing.T) {
	m := New(Options{})
	api := ListenerCounts{Open: 3, Accepted: 10, RefusedTotal: 4, RefusedPerAddr: 5, AcceptErrors: 2}
	m.Listener("api", func() ListenerCounts { return api })
	m.Listener("metrics", func() ListenerCounts { return ListenerCounts{Open: 1, Accepted: 1} })
	api.Accepted = 11 // changed after registration: the scrape sees it
	s := scrape(t, m)
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{ConnectionsOpen, []string{"listener", "api"}, 3},
		{ConnectionsOpen, nil, 4},
		{ConnectionsAccepted, []string{"listener", "api"}, 11},
		{ConnectionsRefused, []string{"listener", "api", "reason", RefusedTotal}, 4},
		{ConnectionsRefused, []string{"listener", "api", "reason", RefusedPerAddr}, 5},
		{ConnectionsRefused, []string{"listener", "metrics"}, 0},
		{AcceptErrors, []string{"listener", "api"}, 2},
	} {
		if got := s.Sum(c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
}
