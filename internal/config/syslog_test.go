package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSyslogKey(t *testing.T) {
	none := func(string) bool { return false }
	c, err := parse("herd.yaml", []byte("sources: []\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Syslog, Syslog{}) {
		t.Errorf("default syslog %+v: want off (the zero value)", c.Syslog)
	}
	for _, tc := range []struct {
		text string
		want Syslog
	}{
		{"syslog:\n  udp: 127.0.0.1:5514\n  tcp: \"[::1]:5514\"\n  max_message: 4096\n",
			Syslog{UDP: "127.0.0.1:5514", TCP: "[::1]:5514", MaxMessage: 4096, Line: 2}},
		{"syslog:\n  tcp: 0.0.0.0:514\n  allow_remote: true\n  max_connections: 8\n  idle_timeout: 30s\n",
			Syslog{TCP: "0.0.0.0:514", MaxConnections: 8, IdleTimeout: 30 * time.Second, AllowRemote: true, Line: 2}},
		{"syslog: {udp: \"\"}\n", Syslog{Line: 1}},
	} {
		c, err := parse("herd.yaml", []byte(tc.text), none)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if !reflect.DeepEqual(c.Syslog, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.text, c.Syslog, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"syslog:\n  udp: 0.0.0.0:514\n", `config herd.yaml:2: syslog.udp: 0.0.0.0:514 is not a loopback address; whoever can reach it`},
		{"syslog:\n  tcp: 192.0.2.1:514\n  allow_remote: false\n", `config herd.yaml:2: syslog.tcp: 192.0.2.1:514 is not a loopback address`},
		{"syslog:\n  udp: localhost:514\n", `config herd.yaml:2: syslog.udp: "localhost:514" is not an ip:port`},
		{"syslog:\n  udp: 127.0.0.1\n", `config herd.yaml:2: syslog.udp: "127.0.0.1" is not an ip:port`},
		{"syslog:\n  max_message: 100\n", `config herd.yaml:2: syslog.max_message: 100 is out of range (480 to 1048576)`},
		{"syslog:\n  max_message: 8k\n", `config herd.yaml:2: syslog.max_message: expected a whole number, found the string "8k"`},
		{"syslog:\n  max_connections: 0\n", `config herd.yaml:2: syslog.max_connections: 0 is out of range`},
		{"syslog:\n  idle_timeout: 10\n", `config herd.yaml:2: syslog.idle_timeout: expected a duration such as "5m", found the number 10`},
		{"syslog:\n  idle_timeout: 1ms\n", `config herd.yaml:2: syslog.idle_timeout: "1ms" is not a duration of at least 1s`},
		{"syslog:\n  port: 514\n", `config herd.yaml:2: syslog: unknown key "port"`},
		{"syslog: 127.0.0.1:514\n", `config herd.yaml:1: syslog: expected a mapping`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}
