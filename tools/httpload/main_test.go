package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRunAgainstNetHTTP drives a real net/http server for a moment: every
// request completes, with the server's status, over the given connections.
func TestRunAgainstNetHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "1" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("no"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r, err := run(ln.Addr().String(), request("GET", "/x", "h", []string{"X-Test: 1"}), 3, 50*time.Millisecond, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.lat) == 0 || r.errs != 0 || r.statuses[403] != len(r.lat) {
		t.Fatalf("result %v", r)
	}
	if !strings.Contains(r.String(), "statuses=403:") {
		t.Errorf("output %q", r)
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response reader: an error or
// a status, never a panic.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", "HTTP/1.1 2", "HTTP/1.0 999 X\r\ncontent-length: -1\r\n\r\n", "HTTP/1.1 -12 X\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := readResponse(bufio.NewReader(strings.NewReader(s)))
		if err == nil && (code < 0 || code > 999) {
			t.Fatalf("%q: status %d", s, code)
		}
	})
}
