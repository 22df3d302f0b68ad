package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestReportKey(t *testing.T) {
	const text = "simulate: false\nreport:\n  url: http://10.0.0.1:8080/\n  machine: web1\n  password_file: /etc/herd/machine.password\n"
	c, err := parse("herd.yaml", []byte(text), none)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{URL: "http://10.0.0.1:8080/", Machine: "web1", PasswordFile: "/etc/herd/machine.password", Line: 3}
	if !reflect.DeepEqual(c.Report, want) {
		t.Errorf("got %+v, want %+v", c.Report, want)
	}
	if c, err := parse("herd.yaml", []byte("simulate: false\n"), none); err != nil || c.Report != (Report{}) {
		t.Errorf("no report key gave %+v, %v", c.Report, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"report:\n  url: ftp://x\n  machine: m\n  password: p\n", `config herd.yaml:2: report.url: "ftp://x" is not an http:// or https:// URL`},
		{"report:\n  url: http://\n  machine: m\n  password: p\n", `config herd.yaml:2: report.url:`},
		{"report:\n  url: https://c:8080\n  password: p\n", `config herd.yaml:2: report: needs machine`},
		{"report:\n  url: https://c:8080\n  machine: m\n", `config herd.yaml:2: report: needs exactly one of password and password_file`},
		{"report:\n  url: https://c:8080\n  machine: m\n  password: p\n  password_file: /f\n", `exactly one of password and password_file`},
		{"report:\n  url: https://c:8080\n  machine: m\n  password_file: rel/f\n", `config herd.yaml:2: report.password_file: "rel/f" is not an absolute path`},
		{"report:\n  url: https://c:8080\n  machine: m\n  pasword: p\n", `config herd.yaml:4: report: unknown key "pasword"`},
		{"report: http://c\n", `config herd.yaml:1: report: expected a mapping`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}
