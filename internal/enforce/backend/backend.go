// Package backend chooses the kernel enforcer of an agent's decisions from
// its configuration: nftables or iptables+ipset (auto takes nftables when
// netlink answers, else iptables+ipset when the tools are installed), or
// the dry-run printer, saying why; and removes what either backend created.
package backend

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/enforce/ipset"
	"github.com/herd-ips/herd/internal/enforce/nft"
)

// DryRun is the name of the printing enforcer, for the logs.
const DryRun = "dry-run"

// Options say which enforcer Open returns.
type Options struct {
	DryRun   bool // print, whatever the configuration
	Firewall config.Firewall
	NetNS    int       // the network namespace's fd (0: the current one)
	Out      io.Writer // where the dry-run printer writes
	Logger   *slog.Logger
}

// Open returns the enforcer of the decisions and its name: the configured
// backend, or the dry-run printer when asked, when the firewall is
// disabled, when not root, or when no backend is usable, saying why.
func Open(o Options) (enforce.Enforcer, string) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	fw, name := open(o)
	if fw == nil {
		return enforce.NewPrinter(o.Out), DryRun
	}
	return fw, name
}

func open(o Options) (enforce.Enforcer, string) {
	switch {
	case o.DryRun:
		o.Logger.Info("agent: --dry-run")
		return nil, ""
	case !o.Firewall.Enabled:
		o.Logger.Info("agent: firewall disabled in the configuration")
		return nil, ""
	case os.Geteuid() != 0:
		o.Logger.Info("agent: not root")
		return nil, ""
	}
	fw, backend, err := openBackend(o.Firewall, o.NetNS)
	if err != nil {
		o.Logger.Warn("agent: no firewall backend usable; running dry", "backend", backendName(o.Firewall.Backend), "err", err)
		return nil, ""
	}
	o.Logger.Info("agent: firewall backend", "backend", backend)
	return fw, backend
}

func backendName(b string) string {
	if b == "" {
		return config.BackendAuto
	}
	return b
}

// openBackend opens the backend fc names in namespace netns (0: the
// current one) and returns it with its name.
func openBackend(fc config.Firewall, netns int) (enforce.Enforcer, string, error) {
	openNft := func() (enforce.Enforcer, error) {
		f, err := nft.New(nft.Options{Table: fc.Table, Forward: fc.Forward, NetNS: netns})
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	// The system's iptables first; where it fails (iptables-nft on a
	// kernel without nf_tables), iptables-legacy.
	openIpset := func() (enforce.Enforcer, string, error) {
		o := ipset.Options{Name: fc.Table, Forward: fc.Forward, NetNS: netns}
		f, err := ipset.New(o)
		if err == nil {
			return f, config.BackendIptables, nil
		}
		if ok, _ := ipset.Available(true); !ok {
			return nil, "", err
		}
		o.Legacy = true
		f, lerr := ipset.New(o)
		if lerr != nil {
			return nil, "", fmt.Errorf("%w; iptables-legacy: %w", err, lerr)
		}
		return f, config.BackendIptables + "-legacy", nil
	}
	switch backendName(fc.Backend) {
	case config.BackendNftables:
		f, err := openNft()
		return f, config.BackendNftables, err
	case config.BackendIptables:
		return openIpset()
	}
	f, nerr := openNft()
	if nerr == nil {
		return f, config.BackendNftables, nil
	}
	if !ipsetInstalled() {
		_, missing := ipset.Available(false)
		return nil, "", fmt.Errorf("nftables: %w; iptables+ipset: %s not installed", nerr, missing)
	}
	f, name, ierr := openIpset()
	if ierr != nil {
		return nil, "", fmt.Errorf("nftables: %w; iptables+ipset: %w", nerr, ierr)
	}
	return f, name, nil
}

// Remove deletes what either backend created: herd's nftables
// table, and its iptables chains, their jumps and its ipsets. A backend
// that cannot be used here (nftables missing, tools not installed) has
// nothing to remove and is skipped; it returns what it removed or found
// absent, for the operator.
func Remove(table string) (string, error) {
	var done []string
	var errs []error
	if fw, err := nft.New(nft.Options{Table: table}); err == nil {
		err = fw.Remove()
		_ = fw.Close()
		if err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, fmt.Sprintf("nftables table inet %s", table))
		}
	} else if !errors.Is(err, nft.ErrNotSupported) {
		errs = append(errs, err)
	}
	if ipsetInstalled() {
		if err := ipset.Remove(ipset.Options{Name: table}); err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, fmt.Sprintf("iptables/ip6tables chain %s and ipsets %s-*", strings.ToUpper(table), table))
		}
	}
	if len(done) == 0 && len(errs) == 0 {
		return "", fmt.Errorf("firewall remove: neither nftables nor iptables+ipset is usable here")
	}
	return strings.Join(done, "; "), errors.Join(errs...)
}

// ipsetInstalled reports whether the iptables+ipset backend's tools are
// installed, in either variant of iptables.
func ipsetInstalled() bool {
	ok, _ := ipset.Available(false)
	legacy, _ := ipset.Available(true)
	return ok || legacy
}
