package app

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce/ipset"
	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/event"
)

// firewall is what the agent needs of an enforcer backend: nftables
// (internal/enforce/nft) or iptables with ipsets (internal/enforce/ipset).
type firewall interface {
	// Reconcile makes the kernel hold exactly the bans of live.
	Reconcile(live []event.Decision, now time.Time) error
	// Apply deletes then adds, in one batch.
	Apply(add []event.Decision, del []netip.Prefix, now time.Time) error
	// Remove deletes everything the backend created in the kernel.
	Remove() error
	// Close releases the backend's handles; what it created stays.
	Close() error
}

type nftFirewall struct{ *nft.Firewall }

func (f nftFirewall) Apply(add []event.Decision, del []netip.Prefix, now time.Time) error {
	return f.Firewall.Apply(nft.Change{Add: add, Delete: del}, now)
}

type ipsetFirewall struct{ *ipset.Firewall }

func (f ipsetFirewall) Apply(add []event.Decision, del []netip.Prefix, now time.Time) error {
	return f.Firewall.Apply(ipset.Change{Add: add, Delete: del}, now)
}

// openFirewall sets a.fw when the decisions can be enforced, with the
// configured backend; auto takes nftables when netlink answers, else
// iptables+ipset when the tools are installed, else runs dry and says why.
func (a *agent) openFirewall() {
	switch {
	case a.o.DryRun:
		a.log.Info("agent: --dry-run")
		return
	case !a.cfg.Firewall.Enabled:
		a.log.Info("agent: firewall disabled in the configuration")
		return
	case os.Geteuid() != 0:
		a.log.Info("agent: not root")
		return
	}
	fw, backend, err := openBackend(a.cfg.Firewall, a.o.NetNS)
	if err != nil {
		a.log.Warn("agent: no firewall backend usable; running dry", "backend", backendName(a.cfg.Firewall.Backend), "err", err)
		return
	}
	a.log.Info("agent: firewall backend", "backend", backend)
	a.fw, a.fwName = fw, backend
}

func backendName(b string) string {
	if b == "" {
		return config.BackendAuto
	}
	return b
}

// openBackend opens the backend fc names in namespace netns (0: the
// current one) and returns it with its name.
func openBackend(fc config.Firewall, netns int) (firewall, string, error) {
	openNft := func() (firewall, error) {
		f, err := nft.New(nft.Options{Table: fc.Table, Forward: fc.Forward, NetNS: netns})
		if err != nil {
			return nil, err
		}
		return nftFirewall{f}, nil
	}
	// The system's iptables first; where it fails (iptables-nft on a
	// kernel without nf_tables), iptables-legacy.
	openIpset := func() (firewall, string, error) {
		o := ipset.Options{Name: fc.Table, Forward: fc.Forward, NetNS: netns}
		f, err := ipset.New(o)
		if err == nil {
			return ipsetFirewall{f}, config.BackendIptables, nil
		}
		if ok, _ := ipset.Available(true); !ok {
			return nil, "", err
		}
		o.Legacy = true
		f, lerr := ipset.New(o)
		if lerr != nil {
			return nil, "", fmt.Errorf("%w; iptables-legacy: %w", err, lerr)
		}
		return ipsetFirewall{f}, config.BackendIptables + "-legacy", nil
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
