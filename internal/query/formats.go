package query

import (
	"path/filepath"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
)

// maxStatusFiles bounds the files FileFormats reports.
const maxStatusFiles = 256

// FileFormat is the format a followed file is read as.
type FileFormat struct {
	Path   string `json:"path"`
	Format string `json:"format"` // a family name, "" when undetected
	How    string `json:"how"`    // "configured", "detected", "undetected" (empty file), "unknown" (a format herd does not know), "fixed"
	Error  string `json:"error,omitempty"`
}

// FileFormats returns the format of every file cfg's sources match, as the
// agent derives it: the source's format when configured, else detected
// from the file's first lines as they are now (the agent locks what it
// detected when it first read the file; a file replaced since may differ).
// The journal and the syslog listener have fixed formats.
func FileFormats(cfg *config.Config, set *rules.Set) ([]FileFormat, error) {
	p, err := parse.Compile(set.Parsers, parse.Options{JSONClientFields: cfg.JSONClientFields})
	if err != nil {
		return nil, err
	}
	var out []FileFormat
	for i := range cfg.Sources {
		src := &cfg.Sources[i]
		for _, g := range src.Files {
			paths, _ := filepath.Glob(g)
			for _, path := range paths {
				if len(out) >= maxStatusFiles {
					return out, nil
				}
				ff := FileFormat{Path: path}
				b, err := detect.SourceBinding(src.Format, src.Program)
				if err != nil {
					ff.Error = err.Error()
					out = append(out, ff)
					continue
				}
				if !b.Locked {
					head, err := detect.ReadHead(path)
					if err != nil {
						ff.Error = err.Error()
					}
					b.Lock(p, head)
				}
				switch {
				case !b.Locked:
					ff.How = "undetected"
				case b.Unknown:
					ff.How = "unknown"
				case b.Configured:
					ff.Format, ff.How = b.Family.String(), "configured"
				default:
					ff.Format, ff.How = b.Family.String(), "detected"
				}
				out = append(out, ff)
			}
		}
	}
	if cfg.Journald.Enabled {
		out = append(out, FileFormat{Path: "journald", Format: parse.FamilyJournal.String(), How: "fixed"})
	}
	if cfg.Syslog.Enabled() {
		out = append(out, FileFormat{Path: "syslog listener", Format: parse.FamilySyslog.String(), How: "fixed"})
	}
	return out, nil
}
