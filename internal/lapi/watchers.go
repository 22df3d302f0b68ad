package lapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/store"
)

// Watchers is what the watcher endpoints (machine login and alert reports)
// need from the store; *store.Store satisfies it.
type Watchers interface {
	// MachineByName returns a registered machine (its password's SHA-256
	// digest, HashKey) or an error wrapping store.ErrNotFound.
	MachineByName(ctx context.Context, name string) (store.Machine, error)
	// Secret returns the store's value called name, storing fresh when
	// there is none (the token signing key).
	Secret(ctx context.Context, name string, fresh []byte) ([]byte, error)
	// AddRemoteAlert stores a reported alert and its decisions at once,
	// deduplicated on (Machine, RemoteID).
	AddRemoteAlert(ctx context.Context, a store.AlertRecord, ds []store.DecisionRecord) (int64, bool, error)
}

var _ Watchers = (*store.Store)(nil)

// Defaults of the watcher endpoints.
const (
	DefaultTokenTTL       = time.Hour
	DefaultMaxBanDuration = 30 * 24 * time.Hour
	// MaxAlertsBody bounds the body of POST /v1/alerts.
	MaxAlertsBody = 1 << 20
	// maxLoginBody bounds the body of POST /v1/watchers/login.
	maxLoginBody = 16 << 10
	// maxTokenBytes bounds a bearer token; herd's are about 200 bytes.
	maxTokenBytes = 1024
	// secretName is the store's row holding the token signing key.
	secretName  = "lapi-jwt-hs256"
	secretBytes = 32
)

// Errors of ParseToken.
var (
	ErrTokenMalformed = errors.New("malformed token")
	ErrTokenSignature = errors.New("bad token signature")
	ErrTokenExpired   = errors.New("token expired")
)

// jwtHeader is the one header herd issues and accepts: HS256. A token
// naming any other algorithm ("none" included) is refused before its
// signature is looked at.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Claims are what a machine token says.
type Claims struct {
	Machine string `json:"id"`  // the machine's name (CrowdSec's claim)
	Expires int64  `json:"exp"` // unix seconds
	Issued  int64  `json:"iat"` // unix seconds
	// Gen is a digest of the machine's password hash, so that a token
	// stops working when the machine is deleted and added again with a
	// new password.
	Gen string `json:"gen"`
}

// SignToken returns the JWT (HS256) of c signed with key.
func SignToken(key []byte, c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("lapi: sign token: %w", err)
	}
	msg := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// ParseToken checks tok's header (HS256 only), its signature with key (in
// constant time, before the payload is decoded) and its expiry at now, and
// returns its claims. Errors wrap ErrTokenMalformed, ErrTokenSignature or
// ErrTokenExpired.
func ParseToken(key []byte, tok string, now time.Time) (Claims, error) {
	if len(tok) > maxTokenBytes {
		return Claims{}, fmt.Errorf("lapi: token: %w: longer than %d bytes", ErrTokenMalformed, maxTokenBytes)
	}
	head, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return Claims{}, fmt.Errorf("lapi: token: %w: no payload", ErrTokenMalformed)
	}
	body, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return Claims{}, fmt.Errorf("lapi: token: %w: want three parts", ErrTokenMalformed)
	}
	if head != jwtHeader {
		return Claims{}, fmt.Errorf("lapi: token: %w: header is not herd's HS256", ErrTokenMalformed)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Claims{}, fmt.Errorf("lapi: token: %w: signature: %v", ErrTokenMalformed, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(tok[:len(head)+1+len(body)]))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return Claims{}, fmt.Errorf("lapi: token: %w", ErrTokenSignature)
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Claims{}, fmt.Errorf("lapi: token: %w: payload: %v", ErrTokenMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("lapi: token: %w: payload: %v", ErrTokenMalformed, err)
	}
	if c.Machine == "" || c.Expires == 0 {
		return Claims{}, fmt.Errorf("lapi: token: %w: no machine or expiry", ErrTokenMalformed)
	}
	if now.Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("lapi: token: %w", ErrTokenExpired)
	}
	return c, nil
}

// passwordGen is the Gen claim for a machine whose password hashes to h.
func passwordGen(h []byte) string {
	d := sha256.Sum256(h)
	return hex.EncodeToString(d[:8])
}

// signer holds the token key, read from (or created in) the store on first
// use.
type signer struct {
	mu  sync.Mutex
	key []byte
}

func (g *signer) get(ctx context.Context, w Watchers) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.key != nil {
		return g.key, nil
	}
	fresh := make([]byte, secretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("lapi: token key: %w", err)
	}
	key, err := w.Secret(ctx, secretName, fresh)
	if err != nil {
		return nil, fmt.Errorf("lapi: token key: %w", err)
	}
	g.key = key
	return key, nil
}

// loginRequest is CrowdSec's watcher login body; other fields are ignored.
type loginRequest struct {
	MachineID string   `json:"machine_id"`
	Password  string   `json:"password"`
	Scenarios []string `json:"scenarios"`
}

type loginAnswer struct {
	Code   int    `json:"code"`
	Expire string `json:"expire"`
	Token  string `json:"token"`
}

// login answers POST /v1/watchers/login: a machine's name and password
// give a token valid for Options.TokenTTL. Wrong credentials count toward
// the client's failure limit (then 429), as bouncer keys do.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	peer := remoteAddr(r)
	now := s.now()
	if !s.lim.allowed(peer, now.UnixNano()) {
		writeCode(w, http.StatusTooManyRequests, "too many failed authentications")
		return
	}
	var req loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err := dec.Decode(&req); err != nil {
		writeCode(w, http.StatusBadRequest, "login: invalid JSON body")
		return
	}
	m, err := s.watchers.MachineByName(r.Context(), req.MachineID)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("lapi: login", "err", err)
		writeCode(w, http.StatusInternalServerError, "internal error")
		return
	}
	// Hash even for an unknown machine, so that timing does not tell
	// which names exist.
	got := HashKey(req.Password)
	if !known || req.Password == "" || subtle.ConstantTimeCompare(got, m.PasswordHash) != 1 {
		s.lim.fail(peer, now.UnixNano())
		s.log.Warn("lapi: machine login failed", "machine", clipName(req.MachineID), "peer", peer)
		writeCode(w, http.StatusUnauthorized, "incorrect machine or password")
		return
	}
	key, err := s.signer.get(r.Context(), s.watchers)
	if err != nil {
		s.log.Error("lapi: login", "err", err)
		writeCode(w, http.StatusInternalServerError, "internal error")
		return
	}
	exp := now.Add(s.tokenTTL)
	tok, err := SignToken(key, Claims{Machine: m.Name, Expires: exp.Unix(), Issued: now.Unix(), Gen: passwordGen(m.PasswordHash)})
	if err != nil {
		writeCode(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.log.Info("lapi: machine logged in", "machine", m.Name, "peer", peer)
	writeJSON(w, http.StatusOK, loginAnswer{Code: http.StatusOK, Expire: exp.UTC().Format(time.RFC3339), Token: tok})
}

// machine authenticates a watcher request's bearer token and returns the
// machine's name. On failure it has answered: 400 for two Authorization
// headers or an X-Api-Key beside one, 401 for a missing, expired or
// invalid token or a machine deleted since, 429 when the client failed too
// often. A validly signed token is accepted whatever the client's failure
// count (as a cached bouncer key is), so that one misconfigured agent does
// not lock out the others behind the same address. Missing and forged
// tokens (bad signature or shape) count toward the failure limit; expired
// ones do not (every client meets expiry).
func (s *Server) machine(w http.ResponseWriter, r *http.Request) (string, bool) {
	peer := remoteAddr(r)
	now := s.now()
	key, err := s.signer.get(r.Context(), s.watchers)
	if err != nil {
		s.log.Error("lapi: authenticate machine", "err", err)
		writeCode(w, http.StatusInternalServerError, "internal error")
		return "", false
	}
	auth := r.Header["Authorization"]
	if len(auth) > 1 || len(r.Header["X-Api-Key"]) > 0 {
		writeCode(w, http.StatusBadRequest, "want one Authorization header and no X-Api-Key")
		return "", false
	}
	var tok string
	if len(auth) == 1 {
		tok, _ = strings.CutPrefix(auth[0], "Bearer ")
	}
	c, err := ParseToken(key, tok, now)
	switch {
	case errors.Is(err, ErrTokenExpired):
		writeCode(w, http.StatusUnauthorized, "token expired")
		return "", false
	case err != nil:
		if !s.lim.allowed(peer, now.UnixNano()) {
			writeCode(w, http.StatusTooManyRequests, "too many failed authentications")
			return "", false
		}
		s.lim.fail(peer, now.UnixNano())
		writeCode(w, http.StatusUnauthorized, "missing or invalid token")
		return "", false
	}
	m, err := s.watchers.MachineByName(r.Context(), c.Machine)
	if errors.Is(err, store.ErrNotFound) || (err == nil && passwordGen(m.PasswordHash) != c.Gen) {
		writeCode(w, http.StatusUnauthorized, "machine no longer registered")
		return "", false
	}
	if err != nil {
		s.log.Error("lapi: authenticate machine", "err", err)
		writeCode(w, http.StatusInternalServerError, "internal error")
		return "", false
	}
	return m.Name, true
}

// writeCode answers code with the gin-jwt style body CrowdSec's watcher
// endpoints use: {"code":401,"message":"..."}.
func writeCode(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// clipName bounds a client-written name before it goes into a log line.
func clipName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
