// Package lapi serves herd's decisions over HTTP: the CrowdSec bouncer
// protocol, a push stream, and forward-auth for reverse proxies.
//
// A Server keeps an in-memory mirror of the live decisions, following the
// store's decision stream with one cursor. The agent calls Notify after it
// commits decisions; the server then reads the changes once (one
// DecisionsSince per change, whatever the number of clients), applies them to
// the mirror and pushes them to every push-stream subscriber. It also
// re-reads every Options.Refresh, so changes made by another process (herd
// bouncers, a second agent on PostgreSQL) arrive within that interval.
//
// Forward-auth and GET /v1/decisions are answered from the mirror, never from
// the store; the CrowdSec stream's deltas read the store once per poll. See
// docs/lapi.md for the endpoints.
package lapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

// Store is what the server needs from the decision store; *store.Store
// satisfies it.
type Store interface {
	// Cursor, LiveDecisions and DecisionsSince follow the decision stream
	// (see store.Store.DecisionsSince).
	Cursor(ctx context.Context) (int64, error)
	LiveDecisions(ctx context.Context, now time.Time) ([]store.DecisionRecord, error)
	DecisionsSince(ctx context.Context, cursor int64) (added, deleted []store.DecisionRecord, err error)
	// BouncerByKeyHash and Bouncers authenticate API keys by their SHA-256
	// digest (HashKey).
	BouncerByKeyHash(ctx context.Context, hash []byte) (string, error)
	Bouncers(ctx context.Context) ([]store.Bouncer, error)
}

var _ Store = (*store.Store)(nil)

// Defaults for Options.
const (
	DefaultRefresh        = time.Second
	DefaultKeyRefresh     = 250 * time.Millisecond
	DefaultKeepAlive      = 25 * time.Second
	DefaultMaxSubscribers = 256
	DefaultAuthBurst      = 10
	DefaultAuthEvery      = 6 * time.Second
	DefaultMaxClients     = 16384
	// subscriberBuffer is how many changes a push-stream subscriber may
	// fall behind before it is disconnected (it reconnects and gets a
	// fresh snapshot).
	subscriberBuffer = 64
	// flushBytes is the size of the chunks large answers are written in.
	flushBytes = 64 << 10

	// Timeouts of the HTTP server. A request's head must arrive within
	// headerTimeout of its first byte and its body within readTimeout of
	// that; every chunk of a long answer and every event of a push stream
	// must be taken within writeTimeout; an idle keep-alive connection is
	// closed after idleTimeout.
	headerTimeout = 10 * time.Second
	readTimeout   = 30 * time.Second
	writeTimeout  = 30 * time.Second
	idleTimeout   = time.Minute

	forwardAuthPath = "/v1/forward-auth"
)

// Options configures New.
type Options struct {
	// Store holds the decisions and the bouncer keys. Required.
	Store Store
	// Time gives the time and drives the store and key refreshes and the
	// push keep-alives; nil means clock.Real.
	Time clock.Clock
	// Logger receives errors and notable events; nil means slog.Default().
	Logger *slog.Logger
	// TrustedProxies are the peers whose X-Forwarded-For or X-Real-IP
	// headers forward-auth believes. Nil means loopback only (127.0.0.0/8
	// and ::1); an empty non-nil slice trusts no one.
	TrustedProxies []netip.Prefix
	// OpenForwardAuth lets requests to /v1/forward-auth from a trusted
	// proxy through without an API key (for nginx, Traefik or Caddy on the
	// same host). Other endpoints always need a key.
	OpenForwardAuth bool
	// Listen is the address the caller listens on, used in log lines only:
	// the listener itself is passed to Serve.
	Listen string
	// TLS, when set, makes Serve speak HTTPS on the listener it is given.
	TLS *tls.Config
	// Refresh is how often the server re-reads the store without a Notify;
	// 0 means DefaultRefresh.
	Refresh time.Duration
	// KeyRefresh is how often the server reloads the bouncer keys, so
	// that a bouncer deleted by another process (herd bouncers delete)
	// loses its cached key and its open push streams within it; 0 means
	// DefaultKeyRefresh.
	KeyRefresh time.Duration
	// KeepAlive is the interval of comment lines on an idle push stream; 0
	// means DefaultKeepAlive.
	KeepAlive time.Duration
	// MaxSubscribers bounds concurrent push-stream clients; 0 means
	// DefaultMaxSubscribers.
	MaxSubscribers int
	// AuthBurst failed authentications are allowed at once per client
	// address (IPv6: per /64), then one per AuthEvery; beyond that the
	// client gets 429. Zero values mean DefaultAuthBurst and
	// DefaultAuthEvery.
	AuthBurst int
	AuthEvery time.Duration
	// MaxClients bounds the clients the failure limiter remembers; 0 means
	// DefaultMaxClients.
	MaxClients int

	// Watchers, when set, serves the watcher endpoints (POST
	// /v1/watchers/login, POST /v1/alerts) through which herd agents on
	// other hosts report their alerts; nil leaves them out (404).
	Watchers Watchers
	// NeverBan is the set of scopes no reported decision may ban (the
	// reported alert is still stored); nil means loopback only. The agent
	// passes loopback, the host's addresses and the allowlist.
	NeverBan *ipx.NeverBan
	// TokenTTL is how long a machine's token is valid; 0 means
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// MaxBanDuration caps the duration of reported decisions (longer ones
	// are clamped); 0 means DefaultMaxBanDuration.
	MaxBanDuration time.Duration
	// Decide, when set, decides on reported alerts that carry no decision
	// (a CrowdSec agent's, run with -no-api): the agent passes its
	// profiles (internal/profile), so that such an alert is decided as a
	// local one is. It returns the decision and true to enforce it, or
	// false and the profiles' verdict ("allowlisted", "no_remedy",
	// "already_decided", "simulated"). Nil stores such alerts undecided.
	Decide func(a *event.Alert) (d event.Decision, verdict string, ok bool)
}

// Server serves the local API. Its methods are safe for concurrent use.
type Server struct {
	st        Store
	clk       clock.Clock
	now       func() time.Time
	log       *slog.Logger
	trusted   []netip.Prefix
	openFA    bool
	listen    string
	tls       *tls.Config
	refresh   time.Duration
	keyEvery  time.Duration
	keepAlive time.Duration
	maxSubs   int
	// HTTP timeouts: the constants, shorter in tests.
	readTimeout, writeTimeout time.Duration

	m      *mirror
	keys   *keyring
	lim    *limiter
	notify chan struct{}
	syncMu sync.Mutex // one Sync at a time

	bmu      sync.Mutex
	bouncers map[string]*bouncerState // per bouncer name: its stream cursor

	watchers Watchers // nil: no watcher endpoints
	nb       *ipx.NeverBan
	signer   signer
	tokenTTL time.Duration
	maxBan   time.Duration
	decide   func(a *event.Alert) (event.Decision, string, bool)

	handler http.Handler
}

// New returns a Server; it reads nothing until Serve or Sync.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("lapi: new: no store")
	}
	s := &Server{
		st:       o.Store,
		clk:      clock.Or(o.Time),
		log:      o.Logger,
		trusted:  o.TrustedProxies,
		openFA:   o.OpenForwardAuth,
		listen:   o.Listen,
		tls:      o.TLS,
		refresh:  o.Refresh,
		keyEvery: o.KeyRefresh,

		readTimeout:  readTimeout,
		writeTimeout: writeTimeout,
		keepAlive:    o.KeepAlive,
		maxSubs:      o.MaxSubscribers,
		m:            newMirror(),
		keys:         newKeyring(),
		notify:       make(chan struct{}, 1),
		bouncers:     map[string]*bouncerState{},
		watchers:     o.Watchers,
		nb:           o.NeverBan,
		tokenTTL:     o.TokenTTL,
		maxBan:       o.MaxBanDuration,
		decide:       o.Decide,
	}
	if s.nb == nil {
		s.nb = ipx.NewNeverBan(nil, nil)
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = DefaultTokenTTL
	}
	if s.maxBan <= 0 {
		s.maxBan = DefaultMaxBanDuration
	}
	s.now = s.clk.Now
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.trusted == nil {
		s.trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	for i, p := range s.trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("lapi: new: trusted proxy %d: invalid prefix", i)
		}
		s.trusted[i] = p.Masked()
	}
	if s.refresh <= 0 {
		s.refresh = DefaultRefresh
	}
	if s.keyEvery <= 0 {
		s.keyEvery = DefaultKeyRefresh
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.maxSubs <= 0 {
		s.maxSubs = DefaultMaxSubscribers
	}
	burst, every, maxClients := o.AuthBurst, o.AuthEvery, o.MaxClients
	if burst <= 0 {
		burst = DefaultAuthBurst
	}
	if every <= 0 {
		every = DefaultAuthEvery
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	s.lim = newLimiter(burst, int64(every), maxClients)

	mux := http.NewServeMux()
	// GET patterns also answer HEAD, as CrowdSec does for both.
	mux.HandleFunc("GET /v1/decisions", s.decisions)
	mux.HandleFunc("GET /v1/decisions/stream", s.stream)
	mux.HandleFunc("GET /v1/herd/stream", s.push)
	if s.watchers != nil {
		mux.HandleFunc("POST /v1/watchers/login", s.login)
		mux.HandleFunc("POST /v1/alerts", s.alerts)
		mux.HandleFunc("GET /v1/heartbeat", s.heartbeat)
		mux.HandleFunc("POST /v1/usage-metrics", s.usageMetrics)
	}
	// Forward-auth answers any method (nginx's auth_request keeps the
	// original request's) and is routed before the mux, whose pattern
	// matching costs two allocations per request.
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == forwardAuthPath {
			s.forwardAuth(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s, nil
}

// Handler returns the server's HTTP handler. Until the first successful
// Sync it answers 503 to every endpoint but the push stream's.
func (s *Server) Handler() http.Handler { return s.handler }

// Notify tells the server that decisions changed in the store. It never
// blocks: notifications arriving during a read are merged into one more read.
func (s *Server) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Serve loads the decisions, then answers HTTP on ln (with TLS when
// Options.TLS is set) and keeps the mirror in step until ctx ends; it then
// stops accepting, ends the push streams and waits up to five seconds for
// requests in flight. It closes ln. It returns nil after ctx ends, or the
// error that stopped it.
//
// A request's head must arrive within 10 s, its body within 30 s; an
// answer's every 64 KiB chunk and every push-stream event must be taken
// within 30 s; an idle connection is closed after a minute. Serve does not
// cap connections: the caller guards ln (internal/connlimit), and an error
// of ln's Accept that is not net.ErrClosed ends Serve.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	if err := s.Sync(ctx); err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       s.readTimeout,
		// No WriteTimeout: net/http's costs an allocation per request
		// (forward-auth's path has none). The answers that can fill the
		// socket's buffer (chunkWriter's, the push stream's events) set
		// a write deadline per piece; the others are a few hundred bytes.
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Requests inherit ctx, so that push streams end with it.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
	}()
	s.log.Info("lapi: serving", "listen", s.listen, "addr", ln.Addr().String(), "tls", s.tls != nil)
	err := hs.Serve(ln)
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("lapi: serve: %w", err)
}

// Run keeps the mirror in step with the store until ctx ends: it reads the
// changes after each Notify and every Options.Refresh, and reloads the
// bouncer keys every Options.KeyRefresh (ending the push streams of deleted
// bouncers). Serve runs it; a caller using Handler alone runs it itself.
func (s *Server) Run(ctx context.Context) {
	t := s.clk.NewTicker(s.refresh)
	defer t.Stop()
	kt := s.clk.NewTicker(s.keyEvery)
	defer kt.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kt.C():
			s.ReloadKeys(ctx)
			continue
		case <-s.notify:
		case <-t.C():
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("lapi: sync", "err", err)
		}
	}
}

// Sync reads the store's changes since the mirror's cursor (all live
// decisions and the bouncer keys the first time), applies them and pushes
// them to the push-stream subscribers. Calls are serialised.
func (s *Server) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	m := s.m
	if !m.loaded {
		return s.load(ctx)
	}
	cursor := m.cursor // only Sync writes it, under syncMu
	added, deleted, err := s.st.DecisionsSince(ctx, cursor)
	if err != nil {
		return fmt.Errorf("lapi: sync: %w", err)
	}
	if len(added) == 0 && len(deleted) == 0 {
		return nil
	}
	next := store.NextCursor(cursor, added, deleted)
	now := s.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	in, out := m.apply(added, deleted, next)
	if len(m.subs) > 0 && (len(in) > 0 || len(out) > 0) {
		m.fanOut(deltaEvent(next, in, out, now))
	}
	return nil
}

// load fills the empty mirror: the cursor, then the live decisions, then the
// changes since the cursor. Live decisions added after the cursor are left
// to the last read, which also drops those deleted in between.
func (s *Server) load(ctx context.Context) error {
	bs, err := s.st.Bouncers(ctx)
	if err != nil {
		return fmt.Errorf("lapi: load: %w", err)
	}
	s.revoke(s.keys.reload(bs))
	cursor, err := s.st.Cursor(ctx)
	if err != nil {
		return fmt.Errorf("lapi: load: %w", err)
	}
	live, err := s.st.LiveDecisions(ctx, s.now())
	if err != nil {
		return fmt.Errorf("lapi: load: %w", err)
	}
	n := 0
	for _, d := range live {
		if d.ID <= cursor {
			live[n] = d
			n++
		}
	}
	added, deleted, err := s.st.DecisionsSince(ctx, cursor)
	if err != nil {
		return fmt.Errorf("lapi: load: %w", err)
	}
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apply(live[:n], nil, cursor)
	m.apply(added, deleted, store.NextCursor(cursor, added, deleted))
	m.loaded = true
	s.log.Info("lapi: decisions loaded", "live", len(m.live), "cursor", m.cursor)
	return nil
}

// authenticate checks the request's X-Api-Key and returns the bouncer's
// name. On failure it has written the answer: 400 for two X-Api-Key
// headers, or a key and an Authorization header where the route takes a
// key only (alone is false: every route but forward-auth, to which a proxy
// passes the visitor's own Authorization), 403 for a missing or unknown
// key, 429 when the client failed too often, 500 when the store failed.
// A key verified before costs no hashing and no allocation.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, alone bool) (string, bool) {
	keys := r.Header["X-Api-Key"]
	if len(keys) > 1 {
		writeMessage(w, http.StatusBadRequest, "more than one X-Api-Key header")
		return "", false
	}
	if !alone && len(r.Header["Authorization"]) > 0 {
		writeMessage(w, http.StatusBadRequest, "an Authorization header where an X-Api-Key is expected")
		return "", false
	}
	var key string
	if len(keys) == 1 {
		key = keys[0]
	}
	if name, ok := s.keys.cached(key); ok {
		return name, true
	}
	peer := remoteAddr(r)
	now := s.now().UnixNano()
	if !s.lim.allowed(peer, now) {
		writeMessage(w, http.StatusTooManyRequests, "too many failed authentications")
		return "", false
	}
	name, ok, err := s.keys.verify(r.Context(), key, s.st.BouncerByKeyHash)
	if err != nil {
		s.log.Error("lapi: authenticate", "err", err)
		writeMessage(w, http.StatusInternalServerError, "internal error")
		return "", false
	}
	if !ok {
		s.lim.fail(peer, now)
		writeMessage(w, http.StatusForbidden, "access forbidden")
		return "", false
	}
	return name, true
}

// remoteAddr returns the address of the connection's peer, or the zero Addr
// if RemoteAddr does not hold one. It does not allocate.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// writeMessage answers code with CrowdSec's error body.
func writeMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	var buf [128]byte
	_, _ = w.Write(appendMessage(buf[:0], msg))
}

// notLoaded answers 503 while the first Sync has not succeeded, and reports
// whether it did.
func (s *Server) notLoaded(w http.ResponseWriter) bool {
	s.m.mu.RLock()
	loaded := s.m.loaded
	s.m.mu.RUnlock()
	if !loaded {
		writeMessage(w, http.StatusServiceUnavailable, "decisions not loaded yet")
	}
	return !loaded
}

// chunkWriter writes a long answer in flushBytes pieces. With rc set, each
// piece gets timeout (the server's write timeout) of its own.
type chunkWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	err     error
}

func (c *chunkWriter) maybeFlush() {
	if len(c.buf) >= flushBytes {
		c.flush()
	}
}

func (c *chunkWriter) flush() {
	if c.err == nil && len(c.buf) > 0 {
		if c.rc != nil {
			_ = c.rc.SetWriteDeadline(time.Now().Add(c.timeout))
		}
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
}
