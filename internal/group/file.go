package group

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// File is a member's groups file: the state of every group it belongs to
// (or is joining), with the epoch keys. It is written with mode 0600
// through a temporary file renamed over it, under an exclusive lock
// (flock on FILE.lock) that the agent and the herd group commands share.
type File struct {
	Groups []*State `json:"groups"`
}

// Find returns the group named name, or nil. A group still joining has
// no name yet; it is found by its id in hex.
func (f *File) Find(name string) *State {
	for _, s := range f.Groups {
		if s.Name() == name || s.Group.String() == name {
			return s
		}
	}
	return nil
}

// ByID returns the group with id g, or nil.
func (f *File) ByID(g GroupID) *State {
	for _, s := range f.Groups {
		if s.Group == g {
			return s
		}
	}
	return nil
}

// Delete removes the group with id g.
func (f *File) Delete(g GroupID) {
	out := f.Groups[:0]
	for _, s := range f.Groups {
		if s.Group != g {
			out = append(out, s)
		}
	}
	f.Groups = out
}

// lock takes the exclusive lock of path's lock file.
func lock(path string) (func(), error) {
	l, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("groups file %s: %w", path, err)
	}
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX); err != nil {
		l.Close()
		return nil, fmt.Errorf("groups file %s: lock: %w", path, err)
	}
	return func() { l.Close() }, nil
}

func readFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("groups file %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("groups file %s: mode %v: readable by others (want 0600): it holds the groups' keys", path, fi.Mode().Perm())
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("groups file %s: %w", path, err)
	}
	for _, s := range f.Groups {
		if s.Keys == nil {
			s.Keys = map[uint32][]byte{}
		}
		if s.Last == nil {
			s.Last = map[ID]uint64{}
		}
	}
	return &f, nil
}

// Read returns the groups file at path (empty when it does not exist).
func Read(path string) (*File, error) {
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return readFile(path)
}

// Update reads the groups file at path under its lock, calls fn, and
// writes the file back when fn returns nil; when fn fails, nothing is
// written.
func Update(path string, fn func(*File) error) error {
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := readFile(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".groups-*")
	if err != nil {
		return fmt.Errorf("groups file %s: %w", path, err)
	}
	_, werr := tmp.Write(b)
	if serr := tmp.Sync(); werr == nil {
		werr = serr
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("groups file %s: %w", path, werr)
	}
	return nil
}
