package app

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/enforce/ipset"
	"github.com/herd-ips/herd/internal/enforce/nft"
)

// openFirewall returns the enforcer of the decisions and its name: the
// configured backend; auto takes nftables when netlink answers, else
// iptables+ipset when the tools are installed, else the dry-run printer,
// saying why.
func (a *agent) openFirewall() (enforce.Enforcer, string) {
	fw, name := a.firewallBackend()
	if fw == nil {
		return enforce.NewPrinter(a.out), dryRun
	}
	return fw, name
}

// dryRun is the name of the printing enforcer, for the logs.
const dryRun = "dry-run"

func (a *agent) firewallBackend() (enforce.Enforcer, string) {
	switch {
	case a.o.DryRun:
		a.log.Info("agent: --dry-run")
		return nil, ""
	case !a.cfg.Firewall.Enabled:
		a.log.Info("agent: firewall disabled in the configuration")
		return nil, ""
	case os.Geteuid() != 0:
		a.log.Info("agent: not root")
		return nil, ""
	}
	fw, backend, err := openBackend(a.cfg.Firewall, a.o.NetNS)
	if err != nil {
		a.log.Warn("agent: no firewall backend usable; running dry", "backend", backendName(a.cfg.Firewall.Backend), "err", err)
		return nil, ""
	}
	a.log.Info("agent: firewall backend", "backend", backend)
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

// RemoveFirewall deletes what either backend created: herd's nftables
// table, and its iptables chains, their jumps and its ipsets. A backend
// that cannot be used here (nftables missing, tools not installed) has
// nothing to remove and is skipped; it returns what it removed or found
// absent, for the operator.
func RemoveFirewall(cfg *config.Config) (string, error) {
	var done []string
	var errs []error
	if fw, err := nft.New(nft.Options{Table: cfg.Firewall.Table}); err == nil {
		err = fw.Remove()
		_ = fw.Close()
		if err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, fmt.Sprintf("nftables table inet %s", cfg.Firewall.Table))
		}
	} else if !errors.Is(err, nft.ErrNotSupported) {
		errs = append(errs, err)
	}
	if ipsetInstalled() {
		if err := ipset.Remove(ipset.Options{Name: cfg.Firewall.Table}); err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, fmt.Sprintf("iptables/ip6tables chain %s and ipsets %s-*", strings.ToUpper(cfg.Firewall.Table), cfg.Firewall.Table))
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
