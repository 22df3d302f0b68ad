package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSourceFormatKey(t *testing.T) {
	none := func(string) bool { return false }
	c, err := parse("herd.yaml", []byte("sources:\n  - files: [/var/log/nginx/error.log]\n    format: nginx-error\n  - files: [/var/log/auth.log]\njson_client_fields: [request.client_ip, remote_addr]\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].Format != "nginx-error" || c.Sources[1].Format != "" {
		t.Errorf("formats: %+v", c.Sources)
	}
	if !reflect.DeepEqual(c.JSONClientFields, []string{"request.client_ip", "remote_addr"}) {
		t.Errorf("json_client_fields: %q", c.JSONClientFields)
	}
	for _, tc := range []struct{ text, want string }{
		{"sources:\n  - files: [/x]\n    format: nginx\n", `config herd.yaml:3: source.format: unknown format "nginx"`},
		{"json_client_fields: []\n", `config herd.yaml:1: json_client_fields: empty`},
		{"json_client_fields: [request]\n", `json_client_fields: "request": want a key`},
		{"json_client_fields: [a.b]\n", `json_client_fields: "a.b": want a key`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}
