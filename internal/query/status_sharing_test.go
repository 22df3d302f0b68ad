package query

import (
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/config"
)

func TestHubSharing(t *testing.T) {
	for _, tc := range []struct {
		h    config.Hub
		want string
	}{
		{config.Hub{}, ""},
		{config.Hub{URL: "http://h:1", Share: true}, "every class"},
		{config.Hub{URL: "http://h:1", Share: true, ShareClasses: []string{"portscan"}}, "portscan only"},
		{config.Hub{URL: "http://h:1"}, "no trust and no vote"},
	} {
		if got := HubSharing(tc.h); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}
