package export

import (
	"compress/gzip"
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Source returns the current list and its version: the version must change
// whenever the list does, as it is the ETag clients revalidate with. The
// handler only reads listed.
type Source func(ctx context.Context) (version uint64, listed []netip.Prefix, err error)

// Handler serves GET /v1/export/{format} (any format ParseFormat takes)
// from src, written with opts. Responses carry the format's Content-Type, a
// weak ETag of the list's version (W/"<version>": the body may differ in
// its generated-at comment, not in content), Cache-Control: no-cache, and
// for p2p and dat a Content-Disposition with the file name clients expect.
// A request whose If-None-Match names the current version gets 304; one
// that accepts gzip gets the body gzip-compressed. An unknown format is
// 404, a source error 503, a list the format cannot hold 500. The hub
// server mounts it at /v1/export/. It is safe for concurrent use if src is.
func Handler(src Source, opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/export/{format}", func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFormat(r.PathValue("format"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		version, listed, err := src(r.Context())
		if err != nil {
			http.Error(w, "export: list unavailable", http.StatusServiceUnavailable)
			return
		}
		etag := `W/"` + strconv.FormatUint(version, 10) + `"`
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Add("Vary", "Accept-Encoding")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		p, err := prepare(f, listed, opts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", f.ContentType())
		if f == P2P || f == Dat {
			h.Set("Content-Disposition", `attachment; filename="`+f.Filename()+`"`)
		}
		if r.Method == http.MethodHead {
			return
		}
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if err := p.writeTo(w); err != nil {
				panic(http.ErrAbortHandler) // the client must not take a cut list for a whole one
			}
			return
		}
		h.Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // cannot fail: valid level
		if err := p.writeTo(zw); err != nil {
			panic(http.ErrAbortHandler)
		}
		if err := zw.Close(); err != nil {
			panic(http.ErrAbortHandler)
		}
	})
	return mux
}

// etagMatches reports whether an If-None-Match header names etag, compared
// weakly (RFC 9110 13.1.2), or is "*".
func etagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip with a
// non-zero quality.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && v > 0
	}
	return false
}
