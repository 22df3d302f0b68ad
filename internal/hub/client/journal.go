package client

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultJournalMax is the size past which a journal file is rotated.
const DefaultJournalMax = 16 << 20

// FileJournal is a Journal in a file: one line per request, written as it
// is sent:
//
//	<time, RFC 3339 with nanoseconds, UTC> <URL path> <content type> <body, base64>
//
// Past max bytes the file is renamed FILE.1 (replacing the older one) and
// a new one begun, so the journal holds between max and 2×max bytes of the
// latest requests. It is safe for concurrent use.
type FileJournal struct {
	path string
	max  int64

	mu     sync.Mutex
	f      *os.File
	size   int64
	failed uint64
}

// OpenJournal opens (creating with mode 0600) the journal at path; max <= 0
// means DefaultJournalMax.
func OpenJournal(path string, max int64) (*FileJournal, error) {
	if max <= 0 {
		max = DefaultJournalMax
	}
	j := &FileJournal{path: path, max: max}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *FileJournal) open() error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("egress journal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("egress journal: %w", err)
	}
	j.f, j.size = f, fi.Size()
	return nil
}

// Sent appends one request. A failure to write is counted (Failed), never
// returned: the request goes out all the same.
func (j *FileJournal) Sent(at time.Time, path, ctype string, body []byte) {
	line := at.UTC().Format(time.RFC3339Nano) + " " + path + " " + orDash(ctype) + " " + base64.StdEncoding.EncodeToString(body) + "\n"
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		j.failed++
		return
	}
	if j.size+int64(len(line)) > j.max && j.size > 0 {
		j.f.Close()
		j.f = nil
		if err := os.Rename(j.path, j.path+".1"); err != nil || j.open() != nil {
			j.failed++
			return
		}
	}
	n, err := j.f.WriteString(line)
	j.size += int64(n)
	if err != nil {
		j.failed++
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Failed returns how many requests could not be written.
func (j *FileJournal) Failed() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

// Close closes the file.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Entry is one request of a journal.
type Entry struct {
	At          time.Time
	Path        string
	ContentType string
	Body        []byte
}

// ParseEntry parses one journal line.
func ParseEntry(line string) (Entry, error) {
	var e Entry
	f := strings.Split(line, " ")
	if len(f) != 4 {
		return e, errors.New("egress journal: want 4 fields")
	}
	t, err := time.Parse(time.RFC3339Nano, f[0])
	if err != nil {
		return e, fmt.Errorf("egress journal: time: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(f[3])
	if err != nil {
		return e, errors.New("egress journal: body: not base64")
	}
	e.At, e.Path, e.ContentType, e.Body = t, f[1], f[2], body
	if e.ContentType == "-" {
		e.ContentType = ""
	}
	return e, nil
}

// ReadJournal calls fn with the entries of the journal at path (its
// rotated part first) sent at or after since, in order. A line that does
// not parse is an error naming its file and line.
func ReadJournal(path string, since time.Time, fn func(Entry) error) error {
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("egress journal: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		n := 0
		for sc.Scan() {
			n++
			e, err := ParseEntry(sc.Text())
			if err != nil {
				f.Close()
				return fmt.Errorf("%s:%d: %w", p, n, err)
			}
			if e.At.Before(since) {
				continue
			}
			if err := fn(e); err != nil {
				f.Close()
				return err
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}
