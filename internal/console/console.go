// Package console is herd's web console: a password-protected HTTP server,
// run by herd agent, that shows the attacks live, the top sources and
// scenarios, the decisions (to lift or add), the alerts with their log
// lines, the community list's state and the sources' health, from the
// store and the agent's live state, with its pages and scripts embedded.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/store"
)

//go:embed assets
var assets embed.FS

// The server's bounds.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = time.Minute
	maxBody           = 4 << 10
	// streamPoll is how often an open live stream looks for alerts the
	// agent did not announce (stored by another process: herd replay
	// --store, a remote machine through the local API).
	streamPoll = 2 * time.Second
)

// Firewall is the enforcer's state as the console shows it.
type Firewall struct {
	Backend  string    `json:"backend"`  // nftables, iptables, dry-run
	InStep   bool      `json:"in_step"`  // the last apply or reconcile succeeded
	Applies  uint64    `json:"applies"`  // successful applies
	Failures uint64    `json:"failures"` // failed applies and reconciles
	LastErr  string    `json:"last_error,omitempty"`
	Since    time.Time `json:"since"` // when InStep last changed
}

// Options configures New.
type Options struct {
	// Store is the agent's store: alerts, decisions, marks. Bans and
	// unbans are written to it, as herd decisions add and delete do; the
	// agent applies them at its next poll (within a second).
	Store *store.Store
	// NeverBan refuses bans on loopback, the host and the allowlist.
	NeverBan *ipx.NeverBan
	// Password is the hash logins are checked against.
	Password Hash
	// Scrape reads the agent's metrics (lines per source, drops); nil
	// shows none.
	Scrape func() (metrics.Scrape, error)
	// Firewall reads the enforcer's state; nil shows none.
	Firewall func() Firewall
	// Secure marks the cookies Secure. Browsers keep Secure cookies over
	// HTTPS and on loopback (localhost, 127.0.0.1, [::1]) only; the agent
	// sets it always.
	Secure bool
	Time   clock.Clock  // nil = clock.Real
	Logger *slog.Logger // nil = discard
}

// Server is the console. Its methods are safe for concurrent use.
type Server struct {
	o        Options
	clk      clock.Clock
	log      *slog.Logger
	sessions sessions
	limits   limiter
	static   http.Handler
	pages    map[string][]byte // index.html, login.html: served with their tokens filled in

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by Notify
}

// New builds the console.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("console: no store")
	}
	if len(o.Password.key) == 0 {
		return nil, ErrNoPassword
	}
	s := &Server{o: o, clk: clock.Or(o.Time), log: o.Logger, changed: make(chan struct{}), pages: map[string][]byte{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	for _, p := range []string{"index.html", "login.html"} {
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return nil, fmt.Errorf("console: assets: %w", err)
		}
		s.pages[p] = b
	}
	s.static = http.FileServerFS(sub)
	return s, nil
}

// Notify tells the open live streams that alerts or decisions changed: they
// read the store at once rather than at their next poll.
func (s *Server) Notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Serve serves the console on ln until ctx ends, then closes it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// Handler returns the console's routes, every one behind the security
// headers, and every one but the login page and its assets behind a session.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.Handle("GET /static/", http.StripPrefix("/static", s.staticFiles()))
	mux.HandleFunc("GET /{$}", s.authedPage(s.indexPage))
	mux.HandleFunc("GET /api/overview", s.authed(s.overview))
	mux.HandleFunc("GET /api/alerts", s.authed(s.alerts))
	mux.HandleFunc("GET /api/alerts/{id}", s.authed(s.alert))
	mux.HandleFunc("GET /api/decisions", s.authed(s.decisions))
	mux.HandleFunc("POST /api/decisions/ban", s.authed(s.ban))
	mux.HandleFunc("POST /api/decisions/unban", s.authed(s.unban))
	mux.HandleFunc("GET /api/community", s.authed(s.community))
	mux.HandleFunc("GET /api/health", s.authed(s.health))
	mux.HandleFunc("GET /api/events", s.authed(s.events))
	return headers(mux)
}

// csp is the Content-Security-Policy of every answer: scripts, styles and
// data from the console itself only, no inline script or style, no
// framing, no plugins, forms posting nowhere else.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// headers sets the security headers on every answer.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// staticFiles serves the embedded assets, never a directory listing.
func (s *Server) staticFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' || r.URL.Path == "/index.html" || r.URL.Path == "/login.html" {
			http.NotFound(w, r)
			return
		}
		s.static.ServeHTTP(w, r)
	})
}

// remoteAddr is the address of the request's peer (the console trusts no
// proxy header).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
