package config

import (
	"strings"
	"testing"
)

func TestTLSAndReceiveKeys(t *testing.T) {
	const text = `api:
  listen: 10.0.0.1:8080
  tls_cert: /etc/herd/tls/cert.pem
  tls_key: /etc/herd/tls/key.pem
metrics:
  tls_cert: /etc/herd/tls/cert.pem
  tls_key: /etc/herd/tls/key.pem
report:
  url: https://10.0.0.1:8080/
  machine: web1
  password: p
  ca_file: /etc/herd/central-ca.pem
  bouncer_key_file: /etc/herd/central.key
`
	c, err := parse("herd.yaml", []byte(text), none)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.TLSCert != "/etc/herd/tls/cert.pem" || c.API.TLSKey != "/etc/herd/tls/key.pem" || c.API.TLSLine != 3 {
		t.Errorf("api = %+v", c.API)
	}
	if c.Metrics.TLSCert != "/etc/herd/tls/cert.pem" || c.Metrics.TLSKey != "/etc/herd/tls/key.pem" || c.Metrics.TLSLine != 6 {
		t.Errorf("metrics = %+v", c.Metrics)
	}
	r := c.Report
	if r.CAFile != "/etc/herd/central-ca.pem" || r.BouncerKeyFile != "/etc/herd/central.key" || !r.Receive {
		t.Errorf("report = %+v; want ca_file, bouncer_key_file and receive on by default", r)
	}

	base := "report:\n  url: https://c:8080\n  machine: m\n  password: p\n"
	for _, tc := range []struct {
		text    string
		receive bool
	}{
		{base, false},
		{base + "  bouncer_key: k\n", true},
		{base + "  bouncer_key: k\n  receive: false\n", false},
		{base + "  bouncer_key: k\n  receive: true\n", true},
	} {
		c, err := parse("herd.yaml", []byte(tc.text), none)
		if err != nil || c.Report.Receive != tc.receive {
			t.Errorf("%q: receive %v, %v; want %v", tc.text, c != nil && c.Report.Receive, err, tc.receive)
		}
	}

	for _, tc := range []struct{ text, want string }{
		{"api:\n  tls_cert: /c.pem\n", `config herd.yaml:2: api: tls_cert and tls_key go together`},
		{"api:\n  tls_key: /k.pem\n", `config herd.yaml:2: api: tls_cert and tls_key go together`},
		{"api:\n  tls_cert: c.pem\n  tls_key: /k.pem\n", `config herd.yaml:2: api.tls_cert: "c.pem" is not an absolute path`},
		{"metrics:\n  tls_key: /k.pem\n", `config herd.yaml:2: metrics: tls_cert and tls_key go together`},
		{base + "  ca_file: ca.pem\n", `config herd.yaml:5: report.ca_file: "ca.pem" is not an absolute path`},
		{base + "  receive: true\n", `config herd.yaml:2: report: receive needs bouncer_key or bouncer_key_file`},
		{base + "  bouncer_key: k\n  bouncer_key_file: /k\n", `report: bouncer_key and bouncer_key_file are exclusive`},
		{base + "  insecure_skip_verify: true\n", `unknown key "insecure_skip_verify"`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}
