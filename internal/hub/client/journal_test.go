package client

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"crypto/ed25519"
	"crypto/rand"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestJournalRecordsWhatIsSent: the journal holds, byte for byte, the
// bodies the hub received, and rotates past its bound.
func TestJournalRecordsWhatIsSent(t *testing.T) {
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(bytes.Buffer)
		b.ReadFrom(r.Body)
		got = append(got, b.Bytes())
		w.Write([]byte(`{"seq":1}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "egress.log")
	j, err := OpenJournal(path, 400)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c, err := New(Options{URL: srv.URL, Key: key, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	sig := wire.Signal{Source: netip.MustParseAddr("203.0.113.7"), Class: wire.SSHBruteforce, Minute: 29000000}
	if err := c.send(ctx, []wire.Signal{sig}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PostBlob(ctx, [16]byte{9}, bytes.Repeat([]byte{7}, 300)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	var read [][]byte
	err = ReadJournal(path, time.Time{}, func(e Entry) error { read = append(read, e.Body); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// 400 bytes: the blob's line rotated the file; the three are in FILE.1
	// and FILE together.
	if len(read) != len(got) {
		t.Fatalf("journal holds %d requests, the hub got %d", len(read), len(got))
	}
	for i := range got {
		if !bytes.Equal(read[i], got[i]) {
			t.Errorf("request %d: journal %x, hub got %x", i, read[i], got[i])
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add("2026-12-07T03:00:00.5Z /v1/signals application/x-herd-signals AQQ=")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseEntry(s) })
}
