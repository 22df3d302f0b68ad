package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/hub/export"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// seedHub writes a hub database in which six reporters enrolled 40 days
// ago, from three networks, reported bad; it is listed at the first
// recomputation.
func seedHub(t *testing.T, path string, bad netip.Addr) {
	t.Helper()
	ctx := context.Background()
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for i := range 6 {
		pub, _, _ := ed25519.GenerateKey(nil)
		id := wire.IDOf(pub)
		nw := netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 11+i/2))
		if _, err := st.Enroll(ctx, hubstore.Reporter{ID: id, Key: pub, Network: nw, Enrolled: now.Add(-40 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddSignals(ctx, id, nw, now, []wire.Signal{{Source: bad, Class: wire.SSHBruteforce, Minute: uint32(now.Unix() / 60)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, string(b), r.Header
}

// TestHubServeBlocklistAndExports runs `herd hub serve` over a database
// whose reports qualify an address: the hub lists it, the signed snapshot
// at /v1/blocklist/snapshot verifies with the public key serve printed and
// holds it, /v1/export/ serves it with the change log's version as ETag,
// and serve stops promptly while a blocklist stream is open. Then `herd
// hub export` writes the same listing to a file.
func TestHubServeBlocklistAndExports(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hub.db")
	bad := netip.MustParseAddr("81.2.69.160")
	seedHub(t, db, bad)
	var out, errb syncWriter
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	root := e.rootCmd()
	root.SetArgs([]string{"hub", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + db, "--key", filepath.Join(dir, "sign.key")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var addr, pubText string
	re := regexp.MustCompile(`listening on (\S+) \(plain HTTP\)\npublic key \(hub.public_key\): (\S+)\n`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr, pubText = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub, _ := base64.StdEncoding.DecodeString(pubText)
	base := "http://" + addr
	want := netip.PrefixFrom(bad, 32)

	var msg *blocklist.Message
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, body, _ := get(t, base+"/v1/blocklist/snapshot")
		if code != 200 {
			t.Fatalf("snapshot: %d %s", code, body)
		}
		m, err := blocklist.Decode([]byte(body), ed25519.PublicKey(pub))
		if err != nil {
			t.Fatalf("snapshot does not verify with the printed key: %v", err)
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
	if msg.Kind != blocklist.KindSnapshot || !slices.Equal(msg.Added, []netip.Prefix{want}) {
		t.Fatalf("snapshot %+v", msg)
	}
	code, body, h := get(t, base+"/v1/export/text")
	if code != 200 || !strings.Contains(body, bad.String()) || h.Get("ETag") != fmt.Sprintf(`W/"%d"`, msg.To) {
		t.Fatalf("export: %d %v %q", code, h, body)
	}
	got, err := export.Read(strings.NewReader(body), export.Text, "text")
	if err != nil || !slices.Equal(got, []netip.Prefix{want}) {
		t.Fatalf("export read back: %v %v", got, err)
	}

	// A stream open at shutdown: serve still stops at once.
	sr, err := http.Get(base + "/v1/blocklist/stream?from=0")
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Body.Close()
	if sr.StatusCode != 200 || sr.Header.Get("Content-Type") != blocklist.StreamContentType {
		t.Fatalf("stream: %d %v", sr.StatusCode, sr.Header)
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("serve did not stop within 4s with a stream open")
	}
	t.Logf("stopped in %v with a stream open", time.Since(t0))

	for _, f := range []string{"text", "nft", "crowdsec"} {
		file := filepath.Join(dir, "out."+f)
		if code, _, errOut := run(t, "", "hub", "export", "--db", "sqlite:"+db, "--format", f, "-o", file); code != 0 {
			t.Fatalf("hub export %s: exit %d: %s", f, code, errOut)
		}
		b, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(b), bad.String()) {
			t.Fatalf("hub export %s: %v %q", f, err, b)
		}
	}
	code, stdout, _ := run(t, "", "hub", "export", "--db", "sqlite:"+db)
	if code != 0 || !strings.Contains(stdout, bad.String()+"\n") {
		t.Fatalf("hub export to stdout: %d %q", code, stdout)
	}
	if code, _, errOut := run(t, "", "hub", "export", "--db", "sqlite:"+db, "--format", "xml"); code == 0 || !strings.Contains(errOut, "unknown format") {
		t.Fatalf("unknown format: exit %d %q", code, errOut)
	}
}
