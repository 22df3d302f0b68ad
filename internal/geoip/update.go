package geoip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultRegistry is the npm registry Update fetches from.
const DefaultRegistry = "https://registry.npmjs.org"

// Package is one npm package Update installs, and which of its files go
// where.
type Package struct {
	Name  string            // "@ip-location-db/geo-whois-asn-country-mmdb"
	Files map[string]string // file in the package (without "package/") → file in the directory
}

// DefaultPackages returns the databases Update installs by default: the
// CC0 country database and the CC BY 4.0 ASN ranges of ip-location-db.
// Their licence files are kept beside them.
func DefaultPackages() []Package {
	return []Package{
		{Name: "@ip-location-db/geo-whois-asn-country-mmdb", Files: map[string]string{
			"geo-whois-asn-country.mmdb": CountryFile,
			"NRO_LICENSE":                "LICENSE-country-NRO",
		}},
		{Name: "@ip-location-db/asn", Files: map[string]string{
			"asn-ipv4.csv":       ASNv4File,
			"asn-ipv6.csv":       ASNv6File,
			"DBIP-LICENSE":       "LICENSE-asn-DBIP",
			"ROUTEVIEWS-LICENSE": "LICENSE-asn-ROUTEVIEWS",
			"NRO_LICENSE":        "LICENSE-asn-NRO",
		}},
	}
}

// UpdateOptions configures Update.
type UpdateOptions struct {
	Dir      string       // where the databases go; created if missing
	Registry string       // npm registry base URL; default DefaultRegistry
	Client   *http.Client // default http.DefaultClient
	Packages []Package    // default DefaultPackages()
	// MaxBytes bounds a tarball's size and each file unpacked from it.
	// Default 256 MiB.
	MaxBytes int64
}

// Installed is one package Update installed.
type Installed struct {
	Name, Version, License, Integrity string
	Files                             []string
}

// Update fetches the latest version of each package from the npm registry,
// checks the tarball against the sha512 integrity the registry publishes,
// and replaces the directory's files atomically (each written beside its
// target, synced, then renamed over it): an agent reading the directory
// sees the old file or the new one, never half of one. Tarballs are taken
// from the registry's own host only. Update is the only code of herd that
// fetches databases; the agent only reads them.
func Update(ctx context.Context, o UpdateOptions) ([]Installed, error) {
	if o.Registry == "" {
		o.Registry = DefaultRegistry
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Packages == nil {
		o.Packages = DefaultPackages()
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	reg, err := url.Parse(strings.TrimSuffix(o.Registry, "/"))
	if err != nil || (reg.Scheme != "https" && reg.Scheme != "http") || reg.Host == "" {
		return nil, fmt.Errorf("geoip update: registry %q is not an http(s) URL", o.Registry)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("geoip update: %w", err)
	}
	var out []Installed
	var source strings.Builder
	for _, p := range o.Packages {
		in, err := install(ctx, o, reg, p)
		if err != nil {
			return out, fmt.Errorf("geoip update: %s: %w", p.Name, err)
		}
		out = append(out, in)
		fmt.Fprintf(&source, "%s@%s license=%q integrity=%s\n", in.Name, in.Version, in.License, in.Integrity)
	}
	if err := writeAtomic(o.Dir, SourceFile, strings.NewReader(source.String()), o.MaxBytes); err != nil {
		return out, fmt.Errorf("geoip update: %w", err)
	}
	return out, nil
}

// manifest is the part of the registry's answer for a version that Update reads.
type manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	License any    `json:"license"`
	Dist    struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"`
	} `json:"dist"`
}

func install(ctx context.Context, o UpdateOptions, reg *url.URL, p Package) (Installed, error) {
	var m manifest
	body, err := get(ctx, o.Client, reg.String()+"/"+strings.Replace(p.Name, "/", "%2F", 1)+"/latest", 1<<20)
	if err != nil {
		return Installed{}, err
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return Installed{}, fmt.Errorf("registry answer: %w", err)
	}
	tu, err := url.Parse(m.Dist.Tarball)
	if err != nil || tu.Host != reg.Host || tu.Scheme != reg.Scheme {
		return Installed{}, fmt.Errorf("tarball %q is not on the registry %s", m.Dist.Tarball, reg.Host)
	}
	want, ok := strings.CutPrefix(m.Dist.Integrity, "sha512-")
	if !ok {
		return Installed{}, fmt.Errorf("integrity %q is not sha512", m.Dist.Integrity)
	}
	sum, err := base64.StdEncoding.DecodeString(want)
	if err != nil || len(sum) != sha512.Size {
		return Installed{}, fmt.Errorf("integrity %q is not a sha512 digest", m.Dist.Integrity)
	}
	tgz, err := get(ctx, o.Client, tu.String(), o.MaxBytes)
	if err != nil {
		return Installed{}, err
	}
	if got := sha512.Sum512(tgz); !bytes.Equal(got[:], sum) {
		return Installed{}, fmt.Errorf("tarball %s: sha512 does not match the registry's integrity", tu)
	}
	files, err := unpack(tgz, p.Files, o.MaxBytes)
	if err != nil {
		return Installed{}, fmt.Errorf("tarball %s: %w", tu, err)
	}
	// Check every file before replacing any: a broken database must not
	// replace a working one.
	tmp, err := os.MkdirTemp(o.Dir, ".check-")
	if err != nil {
		return Installed{}, err
	}
	defer os.RemoveAll(tmp)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return Installed{}, err
		}
	}
	if _, err := Load(tmp); err != nil && !errors.Is(err, ErrNoDatabase) {
		return Installed{}, err
	}
	in := Installed{Name: m.Name, Version: m.Version, License: fmt.Sprint(m.License), Integrity: m.Dist.Integrity}
	for name, data := range files {
		if err := writeAtomic(o.Dir, name, bytes.NewReader(data), o.MaxBytes); err != nil {
			return in, err
		}
		in.Files = append(in.Files, name)
	}
	return in, nil
}

func get(ctx context.Context, c *http.Client, u string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u, max)
	}
	return b, nil
}

// unpack returns the wanted files of a gzipped npm tarball, by their names
// in the directory. Every wanted file must be there.
func unpack(tgz []byte, want map[string]string, max int64) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name, ok := strings.CutPrefix(path.Clean(h.Name), "package/")
		dst, wanted := want[name]
		if !ok || !wanted {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, max+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > max {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
		}
		out[dst] = b
	}
	for src, dst := range want {
		if _, ok := out[dst]; !ok {
			return nil, fmt.Errorf("no %s in the package", src)
		}
	}
	return out, nil
}

// writeAtomic replaces dir/name with r's bytes: written to a temporary file
// in dir, synced, renamed over the target.
func writeAtomic(dir, name string, r io.Reader, max int64) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
