package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/metrics"
)

// signedPost sends a request signed by key at time at with nonce (nil:
// random) and returns its status.
func signedPost(t *testing.T, base, path, ctype string, key ed25519.PrivateKey, body []byte, at time.Time, nonce *[16]byte) int {
	t.Helper()
	var n [16]byte
	if nonce != nil {
		n = *nonce
	} else {
		rand.Read(n[:])
	}
	return signedPostAuth(t, base, path, ctype, wire.Sign(key, http.MethodPost, path, at, n, body).String(), body)
}

func signedPostAuth(t *testing.T, base, path, ctype, auth string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(wire.AuthHeader, auth)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

func enrollKey(t *testing.T, base string) (ed25519.PrivateKey, int) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return key, signedPost(t, base, "/v1/enroll", "application/octet-stream", key, key.Public().(ed25519.PublicKey), time.Now(), nil)
}

// TestHubServeMetrics runs `herd hub serve --metrics-listen` over a
// database whose reports list one address, drives every kind of request
// the counters tell apart (enrollments, a batch with refused sources,
// replays, bad signatures, stale and unknown keys, an enrollment over the
// network's rate, blocklist snapshot, delta and stream), then scrapes
// /metrics over HTTP and checks each series against what was done.
func TestHubServeMetrics(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hub.db")
	bad := netip.MustParseAddr("81.2.69.160")
	seedHub(t, db, bad)
	var out, errb syncWriter
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	root := e.rootCmd()
	root.SetArgs([]string{"hub", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + db, "--key", filepath.Join(dir, "sign.key"),
		"--metrics-listen", "127.0.0.1:0", "--allow-documentation-ranges"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var addr, pubText, maddr string
	re := regexp.MustCompile(`listening on (\S+) \(plain HTTP\)\npublic key \(hub.public_key\): (\S+)\nhub metrics on http://(\S+)/metrics\n`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr, pubText, maddr = m[1], m[2], m[3]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening lines: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub := mustB64(t, pubText)
	base := "http://" + addr

	// The snapshot, once the seeded address is listed; every body served
	// counts.
	var snapBytes int
	var msg *blocklist.Message
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, body, _ := get(t, base+"/v1/blocklist/snapshot")
		if code != 200 {
			t.Fatalf("snapshot: %d %s", code, body)
		}
		snapBytes += len(body)
		m, err := blocklist.Decode([]byte(body), pub)
		if err != nil {
			t.Fatal(err)
		}
		if m.To > 0 {
			msg = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listed after 20s: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, delta, _ := get(t, base+"/v1/blocklist/delta?from="+strconv.FormatUint(msg.To, 10))
	if code != 200 {
		t.Fatalf("delta: %d", code)
	}

	// Ten enrollments from 127.0.0.0/24 (the network's burst), then one
	// over it.
	key, code := enrollKey(t, base)
	if code != 200 {
		t.Fatalf("enroll: %d", code)
	}
	for range 9 {
		if _, code := enrollKey(t, base); code != 200 {
			t.Fatalf("enroll: %d", code)
		}
	}
	if _, code := enrollKey(t, base); code != http.StatusTooManyRequests {
		t.Fatalf("eleventh enrollment: %d, want 429", code)
	}

	// One batch: two accepted, a private, a loopback and a stale minute
	// refused.
	now := time.Now()
	minute := uint32(now.Unix() / 60)
	batch := wire.AppendBatch(nil, []wire.Signal{
		{Source: netip.MustParseAddr("203.0.113.50"), Class: wire.HTTPProbing, Minute: minute},
		{Source: netip.MustParseAddr("198.51.100.7"), Class: wire.SSHBruteforce, Minute: minute},
		{Source: netip.MustParseAddr("10.1.2.3"), Class: wire.SSHBruteforce, Minute: minute},
		{Source: netip.MustParseAddr("127.0.0.2"), Class: wire.SSHBruteforce, Minute: minute},
		{Source: netip.MustParseAddr("203.0.113.9"), Class: wire.SSHBruteforce, Minute: minute - 60*24*365},
	})
	var nonce [16]byte
	rand.Read(nonce[:])
	if code := signedPost(t, base, "/v1/signals", wire.ContentType, key, batch, now, &nonce); code != 200 {
		t.Fatalf("signals: %d", code)
	}
	// The same request again: a replay.
	if code := signedPost(t, base, "/v1/signals", wire.ContentType, key, batch, now, &nonce); code != http.StatusUnauthorized {
		t.Fatalf("replay: %d", code)
	}
	// Signed an hour ago: stale.
	if code := signedPost(t, base, "/v1/signals", wire.ContentType, key, batch, now.Add(-time.Hour), nil); code != http.StatusUnauthorized {
		t.Fatalf("stale: %d", code)
	}
	// A key never enrolled.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	if code := signedPost(t, base, "/v1/signals", wire.ContentType, stranger, batch, now, nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d", code)
	}
	// Signed over another body: bad signature.
	rand.Read(nonce[:])
	other := wire.Sign(key, http.MethodPost, "/v1/signals", now, nonce, batch[:len(batch)-1]).String()
	if code := signedPostAuth(t, base, "/v1/signals", wire.ContentType, other, batch); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", code)
	}
	// Not a Herd-Auth header at all: malformed.
	if code := signedPostAuth(t, base, "/v1/signals", wire.ContentType, "v1 nonsense", batch); code != http.StatusUnauthorized {
		t.Fatalf("malformed: %d", code)
	}

	// A stream from the listed version: its first frame is an empty delta.
	sr, err := http.Get(base + "/v1/blocklist/stream?from=" + strconv.FormatUint(msg.To, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Body.Close()
	var hdr [4]byte
	if _, err := io.ReadFull(sr.Body, hdr[:]); err != nil {
		t.Fatal(err)
	}
	first := int(binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.CopyN(io.Discard, sr.Body, int64(first)); err != nil {
		t.Fatal(err)
	}

	sc, err := metrics.Fetch(context.Background(), http.DefaultClient, "http://"+maddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"herd_hub_enrollments_total", nil, 10},
		{"herd_hub_signal_batches_total", nil, 1},
		{"herd_hub_signals_accepted_total", nil, 2},
		{"herd_hub_signals_refused_total", []string{"reason", "private"}, 1},
		{"herd_hub_signals_refused_total", []string{"reason", "loopback"}, 1},
		{"herd_hub_signals_refused_total", []string{"reason", "time"}, 1},
		{"herd_hub_signals_refused_total", nil, 3},
		{"herd_hub_requests_refused_total", []string{"reason", "replay"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "stale_timestamp"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "unknown_key"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "bad_signature"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "malformed"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "rate_limited"}, 1},
		{"herd_hub_requests_refused_total", []string{"reason", "replay_cache_full"}, 0},
		{"herd_hub_requests_refused_total", nil, 6},
		// One nonce per accepted signal request; enrollments take none.
		{"herd_hub_replay_cache_entries", nil, 1},
		{"herd_hub_listed_addresses", nil, 1},
		{"herd_hub_changelog_version", nil, float64(msg.To)},
		{"herd_hub_blocklist_subscribers", nil, 1},
		{"herd_hub_blocklist_subscribers_dropped_total", nil, 0},
		{"herd_hub_blocklist_bytes_total", []string{"kind", "snapshot"}, float64(snapBytes)},
		{"herd_hub_blocklist_bytes_total", []string{"kind", "delta"}, float64(len(delta))},
	} {
		if !sc.Has(c.name) {
			t.Errorf("%s missing", c.name)
			continue
		}
		if got := sc.Sum(c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	// The stream's first frame, and perhaps heartbeats (4 bytes each).
	if got := int(sc.Sum("herd_hub_blocklist_bytes_total", "kind", "stream")); got < 4+first || (got-4-first)%4 != 0 {
		t.Errorf("stream bytes %d, want 4+%d and heartbeats", got, first)
	}
	recs := sc.Sum("herd_hub_recomputes_total")
	if h := sc.Sum("herd_hub_recompute_seconds"); h < 1 || h > recs {
		t.Errorf("recompute histogram holds %v observations, %v recomputations", h, recs)
	}
	if !sc.Has("go_goroutines") || !sc.Has("process_start_time_seconds") {
		t.Error("runtime and process metrics missing")
	}
	sr.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestHubServeMetricsRemote: an address beyond loopback needs
// --metrics-allow-remote.
func TestHubServeMetricsRemote(t *testing.T) {
	dir := t.TempDir()
	var out, errb syncWriter
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	root := e.rootCmd()
	root.SetArgs([]string{"hub", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "hub.db"), "--key", filepath.Join(dir, "sign.key"),
		"--metrics-listen", "0.0.0.0:0"})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--metrics-allow-remote") {
		t.Fatalf("non-loopback metrics address accepted: %v", err)
	}
}

func mustB64(t *testing.T, s string) ed25519.PublicKey {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: %v", s, err)
	}
	return ed25519.PublicKey(b)
}
