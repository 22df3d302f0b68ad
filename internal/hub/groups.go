package hub

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub/hubstore"
)

// Group relay (docs/groups.md): members of a private group post blobs the
// hub cannot read, and read the group's blobs after a position, waiting
// for new ones (a long poll). The hub files a blob under its group id and
// epoch, keeps its size and bytes, and checks only what its clear header
// says of who sent it: the sender must be the enrolled reporter that signed
// the request.

// Group relay constants.
const (
	// BlobContentType is the media type of a posted blob.
	BlobContentType = "application/x-herd-group-blob"
	// BlobsContentType is the media type of the answer to a read:
	// repeated seq(8, big-endian) length(4, big-endian) blob.
	BlobsContentType = "application/x-herd-group-blobs"
	// MaxWait bounds a read's wait for new blobs.
	MaxWait = 30 * time.Second
	// maxBlobsPerRead bounds the blobs of one read.
	maxBlobsPerRead = 256
	// DefaultBlobRetention is how long blobs are kept.
	DefaultBlobRetention = 7 * 24 * time.Hour
	// DefaultReadRate and DefaultReadBurst bound each reporter's reads of
	// group blobs (a budget apart from the signal requests': an agent in
	// a busy group reads again as soon as each read returns).
	DefaultReadRate  = 20
	DefaultReadBurst = 100
)

// blobWake returns the channel closed at the next stored blob.
func (s *Server) blobWake() <-chan struct{} {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	return s.blobCh
}

func (s *Server) blobStored() {
	s.blobMu.Lock()
	close(s.blobCh)
	s.blobCh = make(chan struct{})
	s.blobMu.Unlock()
}

func groupOf(r *http.Request) (group.GroupID, bool) {
	var g group.GroupID
	v := r.PathValue("gid")
	if len(v) != 32 {
		return g, false
	}
	_, err := hex.Decode(g[:], []byte(v))
	return g, err == nil && hex.EncodeToString(g[:]) == v
}

// postBlob: the body is one blob (internal/group), the request signed by
// an enrolled reporter that is the blob's sender. It answers
// {"seq":N} once the blob is committed.
func (s *Server) postBlob(w http.ResponseWriter, r *http.Request) {
	gid, ok := groupOf(r)
	if !ok {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	if r.Header.Get("Content-Type") != BlobContentType {
		s.stats.bad.Add(1)
		fail(w, http.StatusUnsupportedMediaType)
		return
	}
	a, rep, now, ok := s.knownReporter(w, r)
	if !ok {
		return
	}
	if !s.reqL.has(a.Key, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, group.MaxBlob+1))
	if err != nil || len(body) > group.MaxBlob {
		s.stats.bad.Add(1)
		fail(w, http.StatusRequestEntityTooLarge)
		return
	}
	if !a.Verify(rep.Key, r.Method, r.URL.Path, body) {
		s.stats.badSig.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	if s.nonces.seen(a.Key, a.Nonce, now) {
		s.stats.replay.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	if !s.reqL.allow(a.Key, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	h, _, err := group.ParseHeader(body)
	if err != nil || h.Group != gid || h.Sender != group.ID(a.Key) {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	if !s.takeNonce(w, a, now) {
		return
	}
	seq, err := s.st.AddBlob(r.Context(), gid, h.Epoch, body, now)
	if err != nil {
		s.log.Error("hub: add blob", "err", err)
		fail(w, http.StatusServiceUnavailable)
		return
	}
	s.stats.blobs.Add(1)
	s.stats.blobBytes.Add(uint64(len(body)))
	s.blobStored()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"seq":` + strconv.FormatInt(seq, 10) + "}\n"))
}

// getBlobs: GET /v1/groups/{gid}/blobs?after=N&wait=S, signed by an
// enrolled reporter (the signature covers the path, an empty body). It
// answers the group's blobs after N, waiting up to S seconds (at most
// MaxWait) for one when there is none.
func (s *Server) getBlobs(w http.ResponseWriter, r *http.Request) {
	gid, ok := groupOf(r)
	if !ok {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	after, err1 := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	wait, err2 := strconv.Atoi(r.URL.Query().Get("wait"))
	if err1 != nil || err2 != nil || after < 0 || wait < 0 {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	a, rep, now, ok := s.knownReporter(w, r)
	if !ok {
		return
	}
	if !a.Verify(rep.Key, r.Method, r.URL.Path, nil) {
		s.stats.badSig.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	if !s.readL.allow(a.Key, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	deadline := s.clk.NewTimer(min(time.Duration(wait)*time.Second, MaxWait))
	defer deadline.Stop()
	var bs []hubstore.Blob
	var err error
	for {
		wake := s.blobWake()
		bs, err = s.st.Blobs(r.Context(), gid, after, maxBlobsPerRead)
		if err != nil {
			s.log.Error("hub: blobs", "err", err)
			fail(w, http.StatusServiceUnavailable)
			return
		}
		if len(bs) > 0 {
			break
		}
		// Another node sharing the database stores blobs this node
		// hears nothing of: look again every 250 ms too.
		poll := s.clk.NewTimer(250 * time.Millisecond)
		over := false
		select {
		case <-wake:
		case <-poll.C():
		case <-deadline.C():
			over = true
		case <-r.Context().Done():
			over = true
		case <-s.done:
			over = true
		}
		poll.Stop()
		if over {
			break
		}
	}
	w.Header().Set("Content-Type", BlobsContentType)
	out := make([]byte, 0, 4096)
	for _, b := range bs {
		out = binary.BigEndian.AppendUint64(out, uint64(b.Seq))
		out = binary.BigEndian.AppendUint32(out, uint32(len(b.Data)))
		out = append(out, b.Data...)
	}
	w.Write(out)
}
