package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func serve(t *testing.T, src Source) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/v1/export/", Handler(src, sampleOptions())) // as the hub server mounts it
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport of our own, so that Go does not add and strip gzip itself.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestHandlerServesEveryFormat(t *testing.T) {
	srv := serve(t, func(context.Context) (uint64, []netip.Prefix, error) { return 42, sample, nil })
	for _, f := range Formats() {
		resp, body := get(t, srv.URL+"/v1/export/"+f.String())
		want, err := os.ReadFile(filepath.Join("testdata", "golden."+f.String()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("%s: %d\n%s\nwant the golden file", f, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Type"); got != f.ContentType() {
			t.Errorf("%s: Content-Type %q", f, got)
		}
		if got := resp.Header.Get("ETag"); got != `W/"42"` {
			t.Errorf("%s: ETag %q", f, got)
		}
		disp := resp.Header.Get("Content-Disposition")
		switch f {
		case P2P:
			if disp != `attachment; filename="herd.p2p"` {
				t.Errorf("p2p: Content-Disposition %q", disp)
			}
		case Dat:
			if disp != `attachment; filename="ipfilter.dat"` {
				t.Errorf("dat: Content-Disposition %q", disp)
			}
		default:
			if disp != "" {
				t.Errorf("%s: Content-Disposition %q, want none", f, disp)
			}
		}
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	var version atomic.Uint64
	version.Store(7)
	srv := serve(t, func(context.Context) (uint64, []netip.Prefix, error) { return version.Load(), sample, nil })
	url := srv.URL + "/v1/export/cidr"
	for _, c := range []struct {
		inm  string
		want int
	}{
		{`W/"7"`, http.StatusNotModified},
		{`"7"`, http.StatusNotModified},
		{`"1", W/"7"`, http.StatusNotModified},
		{`*`, http.StatusNotModified},
		{`W/"6"`, http.StatusOK},
		{`W/"77"`, http.StatusOK},
	} {
		resp, body := get(t, url, "If-None-Match", c.inm)
		if resp.StatusCode != c.want {
			t.Errorf("If-None-Match %s: %d, want %d", c.inm, resp.StatusCode, c.want)
		}
		if c.want == http.StatusNotModified && len(body) != 0 {
			t.Errorf("If-None-Match %s: 304 with a body", c.inm)
		}
	}
	version.Store(8)
	if resp, _ := get(t, url, "If-None-Match", `W/"7"`); resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != `W/"8"` {
		t.Errorf("after the list changed: %d, ETag %s", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func TestHandlerGzip(t *testing.T) {
	srv := serve(t, func(context.Context) (uint64, []netip.Prefix, error) { return 1, sample, nil })
	want, _ := os.ReadFile(filepath.Join("testdata", "golden.nft"))
	for _, c := range []struct {
		accept string
		gz     bool
	}{
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"br", false},
		{"", false},
	} {
		resp, body := get(t, srv.URL+"/v1/export/nft", "Accept-Encoding", c.accept)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gz {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", c.accept, got, c.gz)
			continue
		}
		if c.gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, want) {
			t.Errorf("Accept-Encoding %q: body differs from the golden file", c.accept)
		}
	}
}

func TestHandlerErrors(t *testing.T) {
	var mu sync.Mutex
	fail, list := false, sample
	srv := serve(t, func(context.Context) (uint64, []netip.Prefix, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 0, nil, errors.New("store down")
		}
		return 1, list, nil
	})
	if resp, body := get(t, srv.URL+"/v1/export/pdf"); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "p2p") {
		t.Errorf("unknown format: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL+"/v1/export/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no format: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/export/text", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp, err)
	}
	mu.Lock()
	list = []netip.Prefix{{}}
	mu.Unlock()
	if resp, _ := get(t, srv.URL+"/v1/export/text"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("invalid list: %d", resp.StatusCode)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if resp, body := get(t, srv.URL+"/v1/export/text"); resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "store down") {
		t.Errorf("source error: %d %s", resp.StatusCode, body)
	}
}
