package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/empi"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/synth"
)

// synthFlags declares the generator's options on fs.
func synthFlags(fs *flag.FlagSet, sc *synth.Config, residents int) {
	fs.Uint64Var(&sc.Seed, "seed", 1, "random seed: the same seed and options give the same region")
	fs.IntVar(&sc.Residents, "residents", residents, "number of residents (whole households)")
	fs.IntVar(&sc.Years, "years", 1, "years of care")
	fs.Func("start", "first day of the care period, YYYY-MM-DD (default 2025-01-01)", func(s string) error {
		t, err := time.ParseInLocation(time.DateOnly, s, time.FixedZone("CST", 8*3600))
		sc.Start = t
		return err
	})
	sc.Scenarios = synth.AllScenarios()
	fs.Func("scenarios", "ground-truth scenarios: all, none, or a comma list of "+strings.Join(synth.ScenarioNames(), ",")+" (default all)", func(s string) error {
		var err error
		sc.Scenarios, err = synth.ParseScenarios(s)
		return err
	})
}

func synthCmd(args []string, stdout, stderr io.Writer) error {
	var sc synth.Config
	var out regionOutput
	err := parseFlags("synth", args, stderr, func(fs *flag.FlagSet) {
		synthFlags(fs, &sc, 5000)
		fs.StringVar(&out.dir, "out", "", "output directory: the resources and manifest.json (required)")
		fs.StringVar(&out.format, "format", "ndjson", "ndjson: Type.ndjson per resource type; bundles: transaction Bundles of PUT entries")
		fs.IntVar(&out.bundleSize, "bundle-size", 1000, "entries per Bundle with --format bundles")
	})
	if err != nil {
		return err
	}
	if out.dir == "" {
		return errors.New("synth: --out DIR is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := writeRegion(ctx, sc, out)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}

// regionResult reports a generation run.
type regionResult struct {
	manifest  *synth.Manifest
	resources int
	elapsed   time.Duration
	out       string
}

func (r regionResult) String() string {
	return fmt.Sprintf("生成 generated %d residents in %d households: %d resources in %s (%.0f resources/s, peak RSS %d MiB) → %s",
		r.manifest.Residents, r.manifest.Households, r.resources, r.elapsed.Round(time.Millisecond),
		float64(r.resources)/r.elapsed.Seconds(), peakRSS()>>20, r.out)
}

// regionOutput is where and how a generated region is written.
type regionOutput struct {
	dir, format string
	bundleSize  int
}

// writer opens the output's resource writer.
func (o regionOutput) writer() (interface {
	Write(fhir.Resource) error
	Close() error
}, error) {
	switch o.format {
	case "ndjson", "":
		return bulk.NewNDJSONWriter(o.dir)
	case "bundles":
		return bulk.NewBundleWriter(o.dir, o.bundleSize)
	}
	return nil, fmt.Errorf("unknown --format %q: ndjson or bundles", o.format)
}

// writeRegion generates a region with its manifest into out.
func writeRegion(ctx context.Context, sc synth.Config, out regionOutput) (regionResult, error) {
	// The generator allocates many short-lived maps: collecting less often trades
	// a few hundred MiB for about a third more speed.
	defaultGCPercent(400)
	w, err := out.writer()
	if err != nil {
		return regionResult{}, err
	}
	start := time.Now()
	m, err := synth.Generate(ctx, sc, w.Write)
	if err = errors.Join(err, w.Close()); err != nil {
		return regionResult{}, err
	}
	elapsed := time.Since(start)
	if err := m.WriteFile(filepath.Join(out.dir, "manifest.json")); err != nil {
		return regionResult{}, err
	}
	n := 0
	for _, c := range m.Counts {
		n += c
	}
	return regionResult{manifest: m, resources: n, elapsed: elapsed, out: out.dir}, nil
}

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss << 10 // Linux reports KiB
}

func newImporter(p *platform, progress io.Writer) *bulk.Importer {
	return &bulk.Importer{Store: p.Store, Validator: validate.New(p.Defs), Indexer: p.Indexer, Progress: progress}
}

func importCmd(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var batch int
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs, false)
	fs.IntVar(&batch, "batch", 2000, "resources per transaction")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hip import [--db …] FILE|DIR…  (NDJSON *.ndjson, Bundle *.json)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("import: name the files or directories to import")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := openPlatform(ctx, cfg.DB, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	im := newImporter(p, stderr)
	im.Batch = batch
	sum, err := im.Files(ctx, fs.Args())
	fmt.Fprint(stdout, sum)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("import: %d resources refused", sum.Failed)
	}
	return nil
}

func demo(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var sc synth.Config
	var dir string
	err := parseFlags("demo", args, stderr, func(fs *flag.FlagSet) {
		cfg.flags(fs, true)
		synthFlags(fs, &sc, 5000)
		fs.StringVar(&dir, "dir", "", "directory of the demo database and manifest (default: a new temporary directory)")
	})
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "hip-demo-"); err != nil {
			return err
		}
	}
	cfg.DB = filepath.Join(dir, "hip.db")
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := openPlatform(ctx, cfg.DB, nil)
	if err != nil {
		return err
	}
	st := p
	defer st.Close()
	first, err := firstPatient(ctx, st)
	if err != nil {
		return err
	}
	manifestPath := filepath.Join(dir, "manifest.json")
	switch m, merr := synth.ReadManifest(manifestPath); {
	case first == "":
		fmt.Fprintf(stdout, "生成演示区域 generating the demo region: %d residents, %d year(s) of care → %s\n", sc.Residents, max(sc.Years, 1), dir)
		var m *synth.Manifest
		sum, err := newImporter(p, stderr).Stream(ctx, func(ctx context.Context, emit bulk.Emit) error {
			var err error
			m, err = synth.Generate(ctx, sc, emit)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, sum)
		if sum.Failed > 0 {
			return fmt.Errorf("demo: %d generated resources were refused", sum.Failed)
		}
		// The manifest marks a complete region: written last, it is what a
		// later start checks before reusing the directory.
		if err := m.WriteFile(manifestPath); err != nil {
			return err
		}
		if first, err = firstPatient(ctx, st); err != nil {
			return err
		}
		if err := demoRelink(ctx, &cfg, p, log, stdout); err != nil {
			return err
		}
	case merr == nil && m.Describes(sc):
		fmt.Fprintf(stdout, "使用已有演示数据 using the demo data already in %s\n", dir)
	default:
		return fmt.Errorf("demo: %s holds data that is not a complete demo region of these options (an interrupted run, or other --seed/--residents/--years/--start/--scenarios): use another --dir or remove it", dir)
	}
	accounts, err := demoAccounts(ctx, &cfg, p, dir, first)
	if err != nil {
		return err
	}
	return runServer(ctx, &cfg, p, log, func(addr net.Addr) {
		fmt.Fprint(stdout, demoBanner(addr, dir, first))
		if accounts != nil {
			fmt.Fprint(stdout, accounts.banner(ctx, &cfg, p, addr))
		}
	})
}

// demoLogins are the demo's accounts: created on the first start, their
// passwords kept in the demo directory (synthetic data only) so that later
// starts can show them again.
type demoLogins struct {
	path  string
	users []demoLogin
}

type demoLogin struct {
	Name, Role, Password, Note string
}

// demoAccounts creates (once) an administrator, a clinician of the first
// resident's facility, that resident and a regulator.
func demoAccounts(ctx context.Context, cfg *Config, p *platform, dir, patient string) (*demoLogins, error) {
	if cfg.Security.Mode != "builtin" {
		return nil, nil
	}
	path := filepath.Join(dir, "demo-accounts.json")
	logins := &demoLogins{path: path}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &logins.users); err != nil {
			return nil, fmt.Errorf("demo: %s: %w", path, err)
		}
		return logins, nil
	}
	facility := ""
	if res, err := p.Read(ctx, "Patient", patient); err == nil {
		var pat struct {
			ManagingOrganization struct{ Reference string } `json:"managingOrganization"`
		}
		if json.Unmarshal(res.Body, &pat) == nil {
			facility = strings.TrimPrefix(pat.ManagingOrganization.Reference, "Organization/")
		}
	}
	dirAuth := auth.NewDirectory(p.Store)
	for _, u := range []auth.User{
		{Name: "admin", Display: "平台管理员", Role: auth.RoleAdmin},
		{Name: "doctor", Display: "演示医生", Role: auth.RoleClinician, Facility: facility},
		{Name: "resident", Display: "演示居民", Role: auth.RoleResident, Patients: []string{patient}, FHIRUser: "Patient/" + patient},
		{Name: "regulator", Display: "卫健委监管", Role: auth.RoleRegulator},
	} {
		if u.Role == auth.RoleClinician && facility == "" {
			continue
		}
		pw := "Demo-" + auth.NewSecret()[:12]
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = hash
		if err := dirAuth.AddUser(ctx, u); err != nil {
			return nil, err
		}
		note := ""
		if u.Role == auth.RoleClinician {
			note = "Organization/" + facility
		}
		logins.users = append(logins.users, demoLogin{Name: u.Name, Role: string(u.Role), Password: pw, Note: note})
	}
	b, err := json.MarshalIndent(logins.users, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return logins, nil
}

// banner lists the demo accounts and an administrator's token for curl.
func (d *demoLogins) banner(ctx context.Context, cfg *Config, p *platform, addr net.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "演示账户 demo accounts (%s):\n", d.path)
	for _, u := range d.users {
		fmt.Fprintf(&b, "  %-10s %-10s 密码 password %s %s\n", u.Name, u.Role, u.Password, u.Note)
	}
	c := *cfg
	c.Addr = addr.String()
	prov, _, err := openBuiltin(ctx, &c.Security, &c, p)
	if err != nil {
		return b.String()
	}
	if admin, err := prov.Directory().User(ctx, "admin"); err == nil {
		if tok, err := prov.IssueForUser(ctx, admin, nil, ""); err == nil {
			fmt.Fprintf(&b, "管理员访问令牌 admin access token (%d s; a new one: hip token --db %s --user admin):\n%s\n",
				tok.ExpiresIn, cfg.DB, tok.AccessToken)
			fmt.Fprintf(&b, "  例 e.g. TOKEN=…; curl -H \"Authorization: Bearer $TOKEN\" 'http://%s/fhir/Patient?_count=1'\n", c.Addr)
		}
	}
	return b.String()
}
func firstPatient(ctx context.Context, st store.Store) (string, error) {
	page, err := st.Search(ctx, &search.Query{Types: []string{"Patient"}, Count: 1, Total: search.TotalNone})
	if err != nil {
		return "", err
	}
	if len(page.Resources) == 0 {
		return "", nil
	}
	return page.Resources[0].ID, nil
}

// demoBanner tells what to try once the demo serves.
func demoBanner(addr net.Addr, dir, patient string) string {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = fmt.Sprintf("localhost:%d", tcp.Port)
	}
	base := "http://" + host + "/fhir"
	return fmt.Sprintf(`
HIP 演示平台已就绪 — the HIP demo is ready: %[1]s
  能力声明 CapabilityStatement   %[1]s/metadata
  居民 residents                 %[1]s/Patient?_count=10
  一位居民 one resident          %[1]s/Patient/%[2]s
  该居民的历史 its history        %[1]s/Patient/%[2]s/_history
  医疗机构 facilities            %[1]s/Organization?_count=20
  最近的变更 recent changes       %[1]s/_history?_count=10
  运行指标 metrics                http://%[3]s/metrics
  SMART 配置 configuration       %[1]s/.well-known/smart-configuration
除能力声明外，每个请求需携带访问令牌 — every request but /metadata needs an access token (below).
数据与真值清单 data and ground truth: %[4]s (manifest.json)
按 Ctrl+C 停止 — press Ctrl+C to stop.
`, base, patient, host, dir)
}

// demoRelink builds the demo region's master patient index: trained on the
// region's own registrations, every resident one person.
func demoRelink(ctx context.Context, cfg *Config, p *platform, log *slog.Logger, stdout io.Writer) error {
	ecfg, err := readEMPIConfig(cfg.EMPIConfig)
	if err != nil {
		return err
	}
	ix, err := empi.OpenIndex(ctx, p.Store, ecfg, log)
	if err != nil {
		return err
	}
	stats, err := ix.Relink(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "居民主索引 master patient index: %d records → %d persons, %d pairs to review\n", stats.Records, stats.Persons, stats.Reviews)
	return nil
}
