package cli

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/herd-ips/herd/internal/config"
)

// bouncers add prints, besides the key, the lines crowdsec-firewall-bouncer
// needs: they load as YAML and hold the key and the configured API's URL;
// --raw prints the key alone.
func TestBouncersAddPrintsTheBouncersConfiguration(t *testing.T) {
	cfg := testConfig(t)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withAPI := strings.Replace(string(text), "api:\n  listen: \"\"\n", "api:\n  listen: 0.0.0.0:9080\n", 1)
	if err := os.WriteFile(cfg, []byte(withAPI), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "bouncers", "add", "fw", "--config", cfg)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	i := strings.Index(out, "api_url:")
	if i < 0 {
		t.Fatalf("no api_url line:\n%s", out)
	}
	var snippet struct {
		URL    string `yaml:"api_url"`
		Key    string `yaml:"api_key"`
		Update string `yaml:"update_frequency"`
	}
	if err := yaml.Unmarshal([]byte(out[i:]), &snippet); err != nil {
		t.Fatalf("the snippet is not YAML: %v\n%s", err, out[i:])
	}
	if snippet.URL != "http://127.0.0.1:9080/" || len(snippet.Key) < 32 || !strings.Contains(out, "\n    "+snippet.Key+"\n") {
		t.Errorf("snippet %+v does not hold the key shown and the API's URL:\n%s", snippet, out)
	}
	if !strings.Contains(out, bouncerConfig) || !strings.Contains(out, "X-Api-Key") {
		t.Errorf("the output does not say where the key goes:\n%s", out)
	}
	code, out, errOut = run(t, "", "bouncers", "add", "scripted", "--raw", "--config", cfg)
	if code != ExitOK || strings.Count(out, "\n") != 1 || len(strings.TrimSpace(out)) < 32 || strings.ContainsAny(strings.TrimSpace(out), " \t") {
		t.Errorf("--raw: exit %d, %q (%s), want the key alone", code, out, errOut)
	}
}

func TestAPIURL(t *testing.T) {
	for _, tc := range []struct {
		api  config.API
		want string
	}{
		{config.API{Listen: "127.0.0.1:8080"}, "http://127.0.0.1:8080/"},
		{config.API{Listen: "0.0.0.0:8080"}, "http://127.0.0.1:8080/"},
		{config.API{Listen: "[::]:8080"}, "http://[::1]:8080/"},
		{config.API{Listen: ":8080"}, "http://127.0.0.1:8080/"},
		{config.API{Listen: "10.0.0.1:8443", TLSCert: "/etc/herd/tls/cert.pem"}, "https://10.0.0.1:8443/"},
		{config.API{Listen: ""}, ""},
	} {
		if got := apiURL(tc.api); got != tc.want {
			t.Errorf("apiURL(%+v) = %q, want %q", tc.api, got, tc.want)
		}
	}
}

// With the local API off, bouncers add warns that no bouncer can connect.
func TestBouncersAddWarnsWhenTheAPIIsOff(t *testing.T) {
	code, out, errOut := run(t, "", "bouncers", "add", "fw", "--config", testConfig(t))
	if code != ExitOK || !strings.Contains(out, "warning: the local API is off") {
		t.Errorf("exit %d, %s%s", code, out, errOut)
	}
}
