package client

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Media types of the group relay (internal/hub, groups.go).
const (
	blobContentType = "application/x-herd-group-blob"
	maxBlobsAnswer  = 64 << 20
)

// Blob is one blob of a group as the hub relays it: its position in the
// group's stream and its bytes (internal/group opens them).
type Blob struct {
	Seq  int64
	Data []byte
}

// Enroll enrolls the client's key (idempotent). Run does it by itself;
// callers that only relay group blobs call it once.
func (c *Client) Enroll(ctx context.Context) error { return c.enroll(ctx) }

// PostBlob posts a group blob and returns its position once the hub has
// committed it. On 401 (a hub that lost its database) it enrolls again and
// retries once.
func (c *Client) PostBlob(ctx context.Context, group [16]byte, blob []byte) (int64, error) {
	path := "/v1/groups/" + hex.EncodeToString(group[:]) + "/blobs"
	b, err := c.do(ctx, http.MethodPost, path, "", blobContentType, blob, 4096)
	if errors.Is(err, errUnauthorized) {
		if err = c.enroll(ctx); err == nil {
			b, err = c.do(ctx, http.MethodPost, path, "", blobContentType, blob, 4096)
		}
	}
	if err != nil {
		return 0, err
	}
	var ans struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || ans.Seq <= 0 {
		return 0, fmt.Errorf("hub %s: bad answer", path)
	}
	return ans.Seq, nil
}

// Blobs returns the group's blobs after position after, waiting up to wait
// (whole seconds, at most 30) for one when there is none.
func (c *Client) Blobs(ctx context.Context, group [16]byte, after int64, wait time.Duration) ([]Blob, error) {
	path := "/v1/groups/" + hex.EncodeToString(group[:]) + "/blobs"
	q := "after=" + strconv.FormatInt(after, 10) + "&wait=" + strconv.Itoa(int(wait/time.Second))
	b, err := c.do(ctx, http.MethodGet, path, q, "", nil, maxBlobsAnswer)
	if errors.Is(err, errUnauthorized) {
		if err = c.enroll(ctx); err == nil {
			b, err = c.do(ctx, http.MethodGet, path, q, "", nil, maxBlobsAnswer)
		}
	}
	if err != nil {
		return nil, err
	}
	return DecodeBlobs(b)
}

// DecodeBlobs parses the hub's answer to a read: repeated seq(8) length(4)
// blob, the positions increasing.
func DecodeBlobs(b []byte) ([]Blob, error) {
	var out []Blob
	var last int64
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, errors.New("hub blobs: truncated")
		}
		seq := int64(binary.BigEndian.Uint64(b))
		n := binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		if seq <= last || uint64(n) > uint64(len(b)) {
			return nil, errors.New("hub blobs: malformed")
		}
		out = append(out, Blob{Seq: seq, Data: b[:n:n]})
		b = b[n:]
		last = seq
	}
	return out, nil
}
