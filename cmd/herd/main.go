// Command herd is a collaborative intrusion-prevention system: it reads logs,
// recognises attacks and bans their sources. See README.md.
package main

import (
	"os"

	"github.com/herd-ips/herd/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
