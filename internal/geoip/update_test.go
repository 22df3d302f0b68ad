package geoip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarball(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// registry is a fake npm registry serving one package.
type registry struct {
	tgz       []byte
	integrity string
	tarball   string // overrides the tarball URL when set
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host := "http://" + req.Host
	switch {
	case req.URL.Path == "/@test/db/latest":
		tb := r.tarball
		if tb == "" {
			tb = host + "/@test/db/-/db-1.0.0.tgz"
		}
		fmt.Fprintf(w, `{"name":"@test/db","version":"1.0.0","license":"CC0-1.0","dist":{"tarball":%q,"integrity":%q}}`, tb, r.integrity)
	case req.URL.Path == "/@test/db/-/db-1.0.0.tgz":
		w.Write(r.tgz)
	default:
		http.NotFound(w, req)
	}
}

func integrity(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func TestUpdate(t *testing.T) {
	w := newMMDB("x")
	w.insert(netip.MustParsePrefix("192.0.2.0/24"), map[string]any{"country_code": "FR"})
	tgz := tarball(t, map[string][]byte{"c.mmdb": w.bytes(), "LICENSE": []byte("CC0"), "README.md": []byte("x")})
	reg := &registry{tgz: tgz, integrity: integrity(tgz)}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "geoip")
	pk := []Package{{Name: "@test/db", Files: map[string]string{"c.mmdb": CountryFile, "LICENSE": "LICENSE-test"}}}
	in, err := Update(context.Background(), UpdateOptions{Dir: dir, Registry: srv.URL, Packages: pk})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || in[0].Version != "1.0.0" || in[0].License != "CC0-1.0" || len(in[0].Files) != 2 {
		t.Errorf("installed %+v", in)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g := db.Lookup(netip.MustParseAddr("192.0.2.7")); g.Country != "FR" {
		t.Errorf("lookup after update: %+v", g)
	}
	src, _ := os.ReadFile(filepath.Join(dir, SourceFile))
	if !strings.Contains(string(src), "@test/db@1.0.0") || !strings.Contains(string(src), `license="CC0-1.0"`) {
		t.Errorf("SOURCE = %q", src)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
		t.Error("an unwanted file was installed")
	}

	// A tarball that does not match the registry's integrity replaces nothing.
	before, _ := os.ReadFile(filepath.Join(dir, CountryFile))
	w2 := newMMDB("x")
	w2.insert(netip.MustParsePrefix("192.0.2.0/24"), map[string]any{"country_code": "DE"})
	reg.tgz = tarball(t, map[string][]byte{"c.mmdb": w2.bytes(), "LICENSE": []byte("CC0")})
	if _, err := Update(context.Background(), UpdateOptions{Dir: dir, Registry: srv.URL, Packages: pk}); err == nil || !strings.Contains(err.Error(), "sha512 does not match") {
		t.Errorf("tampered tarball: err = %v", err)
	}
	// A tarball on another host is refused.
	reg.integrity = integrity(reg.tgz)
	reg.tarball = "http://evil.example/db.tgz"
	if _, err := Update(context.Background(), UpdateOptions{Dir: dir, Registry: srv.URL, Packages: pk}); err == nil || !strings.Contains(err.Error(), "not on the registry") {
		t.Errorf("foreign tarball: err = %v", err)
	}
	// A matching tarball whose database is broken replaces nothing either.
	reg.tarball = ""
	reg.tgz = tarball(t, map[string][]byte{"c.mmdb": []byte("garbage"), "LICENSE": []byte("CC0")})
	reg.integrity = integrity(reg.tgz)
	if _, err := Update(context.Background(), UpdateOptions{Dir: dir, Registry: srv.URL, Packages: pk}); err == nil {
		t.Error("broken database installed without error")
	}
	after, _ := os.ReadFile(filepath.Join(dir, CountryFile))
	if !bytes.Equal(before, after) {
		t.Error("a refused update changed the installed database")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}
