package surveillance

import (
	"math"
	"testing"
)

// The reference values below are R 4.2.2's (Rscript, %.17g), not needed
// at run time.

// closeRel: within tol relative, or both subnormal (no relative
// precision left there).
func closeRel(got, want, tol float64) bool {
	if got == want || math.Abs(got) < 1e-300 && math.Abs(want) < 1e-300 {
		return true
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestQnorm(t *testing.T) {
	for _, c := range [][2]float64{
		{1e-300, -37.047096299361201},
		{9.9999999999999995e-21, -9.2623400897984052},
		{1e-10, -6.3613409024040557},
		{1.3e-11, -6.6676114565107403},
		{0.001, -3.0902323061678132},
		{0.025000000000000001, -1.9599639845400538},
		{0.050000000000000003, -1.6448536269514726},
		{0.074999999999999997, -1.4395314709384557},
		{0.29999999999999999, -0.52440051270804067},
		{0.5, 0},
		{0.69999999999999996, 0.52440051270804067},
		{0.92500000000000004, 1.4395314709384559},
		{0.94999999999999996, 1.6448536269514715},
		{0.97499999999999998, 1.9599639845400536},
		{0.999, 3.0902323061678132},
		{0.99999999989999999, 6.3613408896974208},
	} {
		if got := qnorm(c[0], 0, 1); !closeRel(got, c[1], 2e-16) {
			t.Errorf("qnorm(%.17g) = %.17g, R %.17g", c[0], got, c[1])
		}
	}
	if got := qnorm(0.95, 2, 3); got != 2+3*qnorm(0.95, 0, 1) {
		t.Errorf("qnorm(0.95, 2, 3) = %v", got)
	}
	if got := qnorm(0.3, 1, 0); got != 1 {
		t.Errorf("qnorm with sigma 0 = %v, want the mean", got)
	}
}

func TestPt(t *testing.T) {
	for _, c := range [][3]float64{
		{-3.5, 5, 0.008642215892646677},
		{-2, 10, 0.036694017385370196},
		{-0.5, 3, 0.32572398242407552},
		{-10, 40, 9.6565585020577791e-13},
		{-1.96, 1000, 0.025136592477874361},
		{0.29999999999999999, 2, 0.60375716957991121},
		{5, 7, 0.99921736102341363},
		{-2.1000000000000001, 33, 0.021727309805133453},
		{-9.9999999999999995e+59, 3, 1.1026577908435548e-180},
		{-0.01, 1, 0.49681700723509176},
	} {
		if got := pt(c[0], c[1], true); !closeRel(got, c[2], 1e-12) {
			t.Errorf("pt(%.17g, %g) = %.17g, R %.17g", c[0], c[1], got, c[2])
		}
		if got := pt(c[0], c[1], false); !closeRel(got, 1-c[2], 1e-12) && math.Abs(got-(1-c[2])) > 1e-16 {
			t.Errorf("pt(%.17g, %g, upper) = %.17g, R %.17g", c[0], c[1], got, 1-c[2])
		}
	}
}

func TestPpois(t *testing.T) {
	for _, c := range [][4]float64{
		{0, 1e-10, 0.99999999989999999, 9.9999999995000007e-11},
		{3, 2.7000000000000002, 0.7140921756162113, 0.28590782438378876},
		{0, 2.7000000000000002, 0.067205512739749756, 0.93279448726025027},
		{10, 2.7000000000000002, 0.99987994718284678, 0.00012005281715321788},
		{40, 2.7000000000000002, 1, 1.0415969037546745e-33},
		{95, 100, 0.33119173403530661, 0.66880826596469345},
		{130, 100, 0.99829315962949849, 0.0017068403705014933},
		{60, 100, 1.0812218170244079e-05, 0.99998918778182977},
		{10000, 10000, 0.50265958121900767, 0.49734041878099239},
		{200500, 200000, 0.8684423557001304, 0.13155764429986963},
		{1, 0.5, 0.90979598956895014, 0.090204010431049877},
		{5, 123.40000000000001, 6.3572124527201389e-46, 1},
	} {
		if got := ppois(c[0], c[1], true); !closeRel(got, c[2], 1e-12) {
			t.Errorf("ppois(%g, %.17g) = %.17g, R %.17g", c[0], c[1], got, c[2])
		}
		if got := ppois(c[0], c[1], false); !closeRel(got, c[3], 1e-12) {
			t.Errorf("ppois(%g, %.17g, upper) = %.17g, R %.17g", c[0], c[1], got, c[3])
		}
	}
}

func TestPnbinom(t *testing.T) {
	for _, c := range [][5]float64{
		{1, 276073228.97537094, 0.99999999013615881, 0.24449157367864582, 0.75550842632135418},
		{0, 2, 0.5, 0.25, 0.75},
		{3, 0.69999999999999996, 0.29999999999999999, 0.84605284467310771, 0.15394715532689229},
		{50, 15, 0.017000000000000001, 2.6618648873573114e-13, 0.99999999999973377},
		{1200, 14.699999999999999, 0.01724245845041681, 0.93819410002658965, 0.061805899973410419},
		{800, 14.699999999999999, 0.01724245845041681, 0.46629761795222968, 0.53370238204777032},
		{2, 1000000000000, 0.99999999999900002, 0.91970267194634114, 0.080297328053658884},
		{0, 0.01, 0.20000000000000001, 0.98403444336345758, 0.015965556636542397},
		{25, 3.2999999999999998, 0.90000000000000002, 1, 6.10722347189519e-24},
		{100000, 50, 0.00050000000000000001, 0.52023051597652037, 0.47976948402347969},
	} {
		if got := pnbinom(c[0], c[1], c[2], true); !closeRel(got, c[3], 1e-12) {
			t.Errorf("pnbinom(%g, %.17g, %.17g) = %.17g, R %.17g", c[0], c[1], c[2], got, c[3])
		}
		if got := pnbinom(c[0], c[1], c[2], false); !closeRel(got, c[4], 1e-12) {
			t.Errorf("pnbinom(%g, %.17g, %.17g, upper) = %.17g, R %.17g", c[0], c[1], c[2], got, c[4])
		}
	}
}

func TestQpois(t *testing.T) {
	for _, c := range [][3]float64{
		{0.94999999999999996, 1e-08, 0},
		{0.94999999999999996, 0.5, 2},
		{0.94999999999999996, 2.7231425176002579, 6},
		{0.94999999999999996, 10, 15},
		{0.050000000000000003, 10, 5},
		{0.5, 123.40000000000001, 123},
		{0.94999999999999996, 100000.5, 100521},
		{0.94999999999999996, 3000000, 3002849},
		{0.98999999999999999, 7.2999999999999998, 14},
		{0.94999999999999996, 0.051293294387550578, 0},
	} {
		if got := qpois(c[0], c[1]); got != c[2] {
			t.Errorf("qpois(%.17g, %.17g) = %v, R %v", c[0], c[1], got, c[2])
		}
	}
}

func TestQnbinom(t *testing.T) {
	for _, c := range [][4]float64{
		{0.94999999999999996, 276073228.97537094, 0.99999999013615881, 6},
		{0.94999999999999996, 2, 0.5, 6},
		{0.94999999999999996, 0.69999999999999996, 0.29999999999999999, 6},
		{0.94999999999999996, 14.550000000000001, 0.01724245845041681, 1220},
		{0.050000000000000003, 14.550000000000001, 0.01724245845041681, 504},
		{0.94999999999999996, 3, 1.0000000000000001e-05, 629575},
		{0.94999999999999996, 0.001, 0.59999999999999998, 0},
		{0.94999999999999996, 1.7, 0.59148840651257328, 4},
		{0.5, 40, 0.20000000000000001, 159},
		{0.98999999999999999, 1000000000000, 0.99999999999900002, 4},
	} {
		if got := qnbinom(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("qnbinom(%.17g, %.17g, %.17g) = %v, R %v", c[0], c[1], c[2], got, c[3])
		}
	}
}

// TestDiscreteQuantileFuzz pins R's left-continuity fuzz p·(1 − 8ε)
// (R ≥ 4.1.1; older R used 64ε): ppois(0, λ) = 0.95·(1 − kε) for k = 7, 9.
func TestDiscreteQuantileFuzz(t *testing.T) {
	if got := qpois(0.95, 0.051293294387552098); got != 0 {
		t.Errorf("k=7: qpois = %v, R 0", got)
	}
	if got := qpois(0.95, 0.05129329438755257); got != 1 {
		t.Errorf("k=9: qpois = %v, R 1", got)
	}
	// the stepped search for starts ≥ 4096
	if got := qpois(0.95, 5000.5); got != 5117 {
		t.Errorf("qpois(0.95, 5000.5) = %v, R 5117", got)
	}
	if got := qpois(0.95, 4095.3); got != 4201 {
		t.Errorf("qpois(0.95, 4095.3) = %v, R 4201", got)
	}
}

// TestDiscreteRandom compares 300 random quantiles and upper tails with
// R's (testdata/farrington/quantiles.csv: means 1e-3…2e5, φ − 1 from 1e-10
// to 60, as the muan/nbPlugin thresholds use them).
func TestDiscreteRandom(t *testing.T) {
	_, c := readTestCSV(t, "testdata/farrington/quantiles.csv")
	num := func(col string, i int) float64 { return parseNum(t, c[col][i]) }
	for i := range c["p"] {
		p, mu, size, prob, y := num("p", i), num("mu", i), num("size", i), num("prob", i), num("y", i)
		if got, want := qpois(p, mu), num("qpois", i); got != want {
			t.Errorf("qpois(%.17g, %.17g) = %v, R %v", p, mu, got, want)
		}
		if got, want := qnbinom(p, size, prob), num("qnbinom", i); got != want {
			t.Errorf("qnbinom(%.17g, %.17g, %.17g) = %v, R %v", p, size, prob, got, want)
		}
		if got, want := ppois(y-1, mu, false), num("ppois_upper", i); !closeRel(got, want, 1e-12) {
			t.Errorf("ppois(%v, %.17g, upper) = %.17g, R %.17g", y-1, mu, got, want)
		}
		if got, want := pnbinom(y-1, size, prob, false), num("pnbinom_upper", i); !closeRel(got, want, 1e-12) {
			t.Errorf("pnbinom(%v, %.17g, %.17g, upper) = %.17g, R %.17g", y-1, size, prob, got, want)
		}
	}
}

// TestDiscreteExtreme covers distributions too wide to sum term by term
// (the Euler–Maclaurin path): R's values, 1e-10 relative for
// probabilities; quantiles exact, or to 1e-15 where integers are no
// longer representable.
func TestDiscreteExtreme(t *testing.T) {
	for _, c := range [][4]float64{
		{100005000, 100000000, 0.69148446470139335, 0.30851553529860665},
		{99970000, 100000000, 0.0013495286998510595, 0.99865047130014895},
		{1000002000000, 1000000000000, 0.97724986805182978, 0.022750131948170205},
		{999999000000, 1000000000000, 0.15865537491687984, 0.84134462508312025},
		{30000000, 30000001.5, 0.49993930286642946, 0.50006069713357049},
		{1e+20, 1e+20, 0.50000000002659617, 0.49999999997340383},
	} {
		tol := 1e-10
		if c[1] > 1<<53 {
			// counts are no longer all representable, nor quadrature
			// nodes: ulp(λ)/σ bounds the accuracy
			tol = 1e-8
		}
		if got := ppois(c[0], c[1], true); !closeRel(got, c[2], tol) {
			t.Errorf("ppois(%.17g, %.17g) = %.17g, R %.17g", c[0], c[1], got, c[2])
		}
		if got := ppois(c[0], c[1], false); !closeRel(got, c[3], tol) {
			t.Errorf("ppois(%.17g, %.17g, upper) = %.17g, R %.17g", c[0], c[1], got, c[3])
		}
	}
	for _, c := range [][5]float64{
		{3000000000, 3, 1.0000000000000001e-09, 0.57680991965730311, 0.42319008034269689},
		{500000000, 3, 1.0000000000000001e-09, 0.014387678137557529, 0.98561232186244241},
		{100000, 0.29999999999999999, 1e-08, 0.14024273239710819, 0.85975726760289184},
		{1000000000, 0.29999999999999999, 1e-08, 0.9999971551555038, 2.8448444961283737e-06},
		{1000003000000, 1000000000000, 0.5, 0.98305253607197107, 0.016947463928028889},
		{999995000000, 1000000000000, 0.5, 0.00020347314973618335, 0.99979652685026377},
		{40000000, 25000, 0.00062500000000000001, 0.54020156375353534, 0.45979843624646471},
		{2, 0.29999999999999999, 1e-08, 0.0059517021723053884, 0.99404829782769455},
	} {
		if got := pnbinom(c[0], c[1], c[2], true); !closeRel(got, c[3], 1e-10) {
			t.Errorf("pnbinom(%.17g, %.17g, %.17g) = %.17g, R %.17g", c[0], c[1], c[2], got, c[3])
		}
		if got := pnbinom(c[0], c[1], c[2], false); !closeRel(got, c[4], 1e-10) {
			t.Errorf("pnbinom(%.17g, %.17g, %.17g, upper) = %.17g, R %.17g", c[0], c[1], c[2], got, c[4])
		}
	}
	for _, c := range [][3]float64{
		{0.94999999999999996, 100000000, 100016449},
		{0.050000000000000003, 1000000000000, 999998355147},
		{0.94999999999999996, 3300000000, 3300094490},
	} {
		if got := qpois(c[0], c[1]); got != c[2] {
			t.Errorf("qpois(%.17g, %.17g) = %.17g, R %.17g", c[0], c[1], got, c[2])
		}
	}
	for _, c := range [][4]float64{
		{0.94999999999999996, 3, 1.0000000000000001e-09, 6295793617},
		{0.94999999999999996, 0.29999999999999999, 1e-08, 137234994},
		{0.94999999999999996, 1000000000000, 0.5, 1000002326175},
		{0.94999999999999996, 25000, 0.00062500000000000001, 40391896},
		{0.94999999999999996, 2.2e+153, 0.02197802197802198, 9.7900000000000002e+154},
	} {
		if got := qnbinom(c[0], c[1], c[2]); !closeRel(got, c[3], 1e-15) {
			t.Errorf("qnbinom(%.17g, %.17g, %.17g) = %.17g, R %.17g", c[0], c[1], c[2], got, c[3])
		}
	}
}

// TestIntegrate checks the Gauss–Kronrod rule on integrals known exactly.
func TestIntegrate(t *testing.T) {
	for _, c := range []struct {
		f          func(float64) float64
		a, b, want float64
	}{
		{func(x float64) float64 { return math.Pow(x, 22) }, 0, 1, 1.0 / 23},
		{math.Exp, 0, 3, math.Exp(3) - 1},
		{func(x float64) float64 { return math.Exp(-x * x / 2) }, -40, 40, math.Sqrt(2 * math.Pi)},
		{math.Sqrt, 0, 4, 16.0 / 3},
	} {
		if got := integrate(c.f, c.a, c.b, 0); !closeRel(got, c.want, 1e-10) {
			t.Errorf("∫ over [%g, %g] = %.17g, want %.17g", c.a, c.b, got, c.want)
		}
	}
}

// TestDiscreteQuantileEdges checks the boundary values R returns.
func TestDiscreteQuantileEdges(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"qpois p=0", qpois(0, 3), 0},
		{"qpois p=1", qpois(1, 3), math.Inf(1)},
		{"qpois lambda=0", qpois(0.95, 0), 0},
		{"qnbinom prob=1", qnbinom(0.95, 3, 1), 0},
		{"qnbinom size=0", qnbinom(0.95, 0, 0.4), 0},
		{"qnbinom p=1", qnbinom(1, 3, 0.4), math.Inf(1)},
		{"ppois x<0", ppois(-1, 3, true), 0},
		{"ppois x<0 upper", ppois(-1, 3, false), 1},
		{"pnbinom x<0 upper", pnbinom(-1, 3, 0.4, false), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, v := range []float64{qpois(0.95, -1), qnbinom(0.95, 1, 0), qnbinom(0.95, -1, 0.5), pnbinom(1, 1, 1.5, true)} {
		if !math.IsNaN(v) {
			t.Errorf("invalid parameters gave %v, want NaN", v)
		}
	}
}
