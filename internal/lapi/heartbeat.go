package lapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// maxUsageMetricsBody bounds the body of POST /v1/usage-metrics.
const maxUsageMetricsBody = 256 << 10

// heartbeat answers GET /v1/heartbeat, which a CrowdSec agent calls every
// few seconds to say it is alive: 200 with an empty body for an
// authenticated machine. HEAD is answered the same.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	m, ok := s.machine(w, r)
	if !ok {
		return
	}
	s.log.Debug("lapi: machine heartbeat", "machine", m)
	w.WriteHeader(http.StatusOK)
}

// usageMetrics answers POST /v1/usage-metrics, through which CrowdSec
// agents (with a machine token) and bouncers (with their API key) report
// their counters since 1.6. herd does not keep them: the body must be a
// JSON object of at most 256 KiB, and is then acknowledged with 201 and
// dropped, so that the client does not log an error every interval.
func (s *Server) usageMetrics(w http.ResponseWriter, r *http.Request) {
	var who string
	var ok bool
	if len(r.Header["X-Api-Key"]) > 0 && len(r.Header["Authorization"]) == 0 {
		who, ok = s.authenticate(w, r, false)
	} else {
		who, ok = s.machine(w, r)
	}
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUsageMetricsBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "usage metrics: body too large")
			return
		}
		writeMessage(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		writeMessage(w, http.StatusBadRequest, "usage metrics: want a JSON object")
		return
	}
	s.log.Debug("lapi: usage metrics received and dropped", "client", clipName(who), "bytes", len(body))
	writeJSON(w, http.StatusCreated, struct{}{})
}
