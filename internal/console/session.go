package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// The cookies: the session, and the login form's anti-forgery token.
const (
	sessionCookie = "herd_session"
	loginCookie   = "herd_login"
	csrfHeader    = "X-CSRF-Token"
	// tokenSlot is replaced in the pages by the anti-forgery token.
	tokenSlot = "{{CSRF}}"
)

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode})
}

// current returns the request's live session and its id, or nil.
func (s *Server) current(r *http.Request) (string, *session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", nil
	}
	return c.Value, s.sessions.get(c.Value, s.clk.Now())
}

// sameOrigin reports whether a state-changing request comes from the
// console's own pages: an Origin header, when the browser sends one, must
// name the host the request was sent to; Sec-Fetch-Site, when sent, must
// be same-origin.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// authed wraps an API handler: a live session is required (401
// otherwise), and a state-changing request must carry the session's
// anti-forgery token in X-CSRF-Token and come from the console's origin
// (403 otherwise).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, se := s.current(r)
		if se == nil {
			writeError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) || !equal(r.Header.Get(csrfHeader), se.csrf) {
				writeError(w, http.StatusForbidden, "missing or wrong anti-forgery token")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		h(w, r, se)
	}
}

// authedPage wraps a page: without a session the browser goes to /login.
func (s *Server) authedPage(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, se := s.current(r)
		if se == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, se)
	}
}

func (s *Server) page(w http.ResponseWriter, name, tok string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(bytes.ReplaceAll(s.pages[name], []byte(tokenSlot), []byte(tok)))
}

func (s *Server) indexPage(w http.ResponseWriter, _ *http.Request, se *session) {
	s.page(w, "index.html", se.csrf)
}

// loginPage serves the login form with a fresh anti-forgery token, also
// set as a cookie: the login must send both (double submit).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, se := s.current(r); se != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	tok := token(24)
	s.setCookie(w, loginCookie, tok, 600)
	s.page(w, "login.html", tok)
}

// login checks the password: rate-limited per source and globally before
// any key derivation, the anti-forgery token compared in constant time,
// and a new session (new token, new anti-forgery token) on success.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	now := s.clk.Now()
	src := remoteAddr(r)
	if !s.limits.allow(src, now) {
		s.log.Warn("console: login refused: too many attempts", "source", src)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "too many login attempts; wait a minute")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !equal(r.Header.Get(csrfHeader), c.Value) {
		writeError(w, http.StatusForbidden, "missing or wrong anti-forgery token; reload the page")
		return
	}
	var body struct {
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	if !s.o.Password.Verify(body.Password) {
		s.log.Warn("console: login failed", "source", src)
		writeError(w, http.StatusUnauthorized, "wrong password")
		return
	}
	if id, _ := s.current(r); id != "" {
		s.sessions.end(id)
	}
	id, _ := s.sessions.create(now)
	s.setCookie(w, loginCookie, "", -1)
	s.setCookie(w, sessionCookie, id, int(SessionMax.Seconds()))
	s.log.Info("console: login", "source", src)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if id, _ := s.current(r); id != "" {
		s.sessions.end(id)
	}
	s.setCookie(w, sessionCookie, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": strings.TrimSpace(msg)})
}
