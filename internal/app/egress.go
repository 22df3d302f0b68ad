package app

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// HubEgress prints, decoded, what this agent sent to its hub since since,
// from the egress journal its hub clients write as they send
// (hub.egress_journal): enrollments (the public key), signal batches (one
// line per signal: source, class, minute) and group blobs (their group,
// epoch and size: their content is sealed).
func HubEgress(cfg *config.Config, since time.Time, out io.Writer) error {
	if !cfg.Hub.Share {
		fmt.Fprintln(out, "# hub.share is off: this agent sends no signals, so it has no trust and no vote at the hub; it still receives the community blocklist")
	} else if cfg.Hub.ShareClasses != nil {
		fmt.Fprintf(out, "# hub.share: only %s; trust and votes come only from what is shared\n", strings.Join(cfg.Hub.ShareClasses, ", "))
	}
	var reqs, sigs, blobs, bytes int
	reads := map[string]int{} // group reads (GET), counted per path
	err := client.ReadJournal(cfg.Hub.EgressPath(), since, func(e client.Entry) error {
		reqs++
		bytes += len(e.Body)
		at := e.At.UTC().Format(time.RFC3339)
		switch {
		case strings.HasPrefix(e.Path, "GET:"):
			path, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "GET:"), "?")
			reads[path]++
		case e.Path == "/v1/enroll" || strings.HasSuffix(e.Path, "/v1/enroll"):
			if len(e.Body) == ed25519.PublicKeySize {
				fmt.Fprintf(out, "%s  enroll  reporter %s  public key %s\n", at, wire.IDOf(e.Body), hex.EncodeToString(e.Body))
			} else {
				fmt.Fprintf(out, "%s  enroll  %d bytes (not a key)\n", at, len(e.Body))
			}
		case strings.HasSuffix(e.Path, "/v1/signals"):
			ss, err := wire.DecodeBatch(nil, e.Body)
			if err != nil {
				fmt.Fprintf(out, "%s  signals  %d bytes that do not decode: %v\n", at, len(e.Body), err)
				return nil
			}
			fmt.Fprintf(out, "%s  signals  %d (%d bytes)\n", at, len(ss), len(e.Body))
			for _, s := range ss {
				sigs++
				fmt.Fprintf(out, "    %-39s  %-16s  minute %s\n", s.Source, s.Class, time.Unix(int64(s.Minute)*60, 0).UTC().Format("2006-01-02T15:04Z"))
			}
		case strings.Contains(e.Path, "/v1/groups/"):
			blobs++
			h, _, err := group.ParseHeader(e.Body)
			if err != nil {
				fmt.Fprintf(out, "%s  group blob  %d bytes that do not parse\n", at, len(e.Body))
				return nil
			}
			fmt.Fprintf(out, "%s  group blob  group %s  epoch %d  %s  %d bytes, sealed\n", at, h.Group, h.Epoch, kindName(h.Kind), len(e.Body))
		default:
			fmt.Fprintf(out, "%s  %s  %d bytes\n", at, e.Path, len(e.Body))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, path := range slices.Sorted(maps.Keys(reads)) {
		n := reads[path]
		fmt.Fprintf(out, "reads  GET %s  %d times (no body; the query names the position read from)\n", path, n)
	}
	fmt.Fprintf(out, "# %d requests, %d bytes of bodies: %d signals, %d group blobs\n", reqs, bytes, sigs, blobs)
	return nil
}

func kindName(k group.Kind) string {
	switch k {
	case group.KindMessage:
		return "message"
	case group.KindCommit:
		return "commit"
	case group.KindJoin:
		return "join"
	}
	return "?"
}
