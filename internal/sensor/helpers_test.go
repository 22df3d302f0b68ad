package sensor_test

import (
	"testing"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

func newDetector(t testing.TB) *detect.Detector {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(detect.Options{Rules: set, NeverBan: ipx.NewNeverBan(nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
