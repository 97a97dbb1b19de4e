package surveillance

import "math"

// The distribution functions the detection algorithms need, written to
// give R's answers (R 4.2, src/nmath): the bounds are compared with the
// reference to 1e-9 and the discrete quantiles must be the same integers.
// No log-scale forms; quantiles for the lower tail only. ppois and
// pnbinom sum Loader's accurate probabilities instead of porting R's
// pgamma/pbeta (TOMS 708): a continued fraction with a lgamma-based
// prefactor loses digits exactly where φ is near 1; the sums agree with
// R to about 1e-13 (tests: R's values, hard-coded).

const dblEpsilon = 2.220446049250313e-16 // DBL_EPSILON

// qnorm is R's qnorm(p, mu, sigma): Wichura's AS 241, accurate to about
// 1 part in 1e16.
func qnorm(p, mu, sigma float64) float64 {
	if math.IsNaN(p) || math.IsNaN(mu) || math.IsNaN(sigma) {
		return p + mu + sigma
	}
	switch {
	case p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	if sigma < 0 {
		return math.NaN()
	}
	if sigma == 0 {
		return mu
	}
	q := p - 0.5
	var val float64
	if math.Abs(q) <= .425 {
		r := .180625 - q*q
		val = q * (((((((r*2509.0809287301226727+33430.575583588128105)*r+67265.770927008700853)*r+
			45921.953931549871457)*r+13731.693765509461125)*r+1971.5909503065514427)*r+
			133.14166789178437745)*r + 3.387132872796366608) /
			(((((((r*5226.495278852854561+28729.085735721942674)*r+39307.89580009271061)*r+
				21213.794301586595867)*r+5394.1960214247511077)*r+687.1870074920579083)*r+
				42.313330701600911252)*r + 1.)
		return mu + sigma*val
	}
	r := p
	if q > 0 {
		r = 1 - p
	}
	r = math.Sqrt(-math.Log(r))
	if r <= 5. {
		r += -1.6
		val = (((((((r*7.7454501427834140764e-4+.0227238449892691845833)*r+.24178072517745061177)*r+
			1.27045825245236838258)*r+3.64784832476320460504)*r+5.7694972214606914055)*r+
			4.6303378461565452959)*r + 1.42343711074968357734) /
			(((((((r*1.05075007164441684324e-9+5.475938084995344946e-4)*r+.0151986665636164571966)*r+
				.14810397642748007459)*r+.68976733498510000455)*r+1.6763848301838038494)*r+
				2.05319162663775882187)*r + 1.)
	} else {
		r += -5.
		val = (((((((r*2.01033439929228813265e-7+2.71155556874348757815e-5)*r+.0012426609473880784386)*r+
			.026532189526576123093)*r+.29656057182850489123)*r+1.7848265399172913358)*r+
			5.4637849111641143699)*r + 6.6579046435011037772) /
			(((((((r*2.04426310338993978564e-15+1.4215117583164458887e-7)*r+1.8463183175100546818e-5)*r+
				7.868691311456132591e-4)*r+.0148753612908506148525)*r+.13692988092273580531)*r+
				.59983220655588793769)*r + 1.)
	}
	if q < 0 {
		val = -val
	}
	return mu + sigma*val
}

// pnorm is R's pnorm(x, mu, sigma, lower.tail). erfc keeps the relative
// accuracy of the far upper tail the p-values live in.
func pnorm(x, mu, sigma float64, lower bool) float64 {
	if math.IsNaN(x) || math.IsNaN(mu) || math.IsNaN(sigma) {
		return x + mu + sigma
	}
	if math.IsInf(x, 0) && mu == x {
		return math.NaN()
	}
	step := func() float64 { // x on either side of a degenerate distribution
		if (x < mu) == lower {
			return 0
		}
		return 1
	}
	if sigma < 0 {
		return math.NaN()
	}
	if sigma == 0 {
		return step()
	}
	z := (x - mu) / sigma
	if math.IsInf(z, 0) {
		return step()
	}
	if !lower {
		z = -z
	}
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// pt is R's pt(x, n, lower.tail) for n > 0 degrees of freedom, from the
// regularized incomplete beta function as R computes it.
func pt(x, n float64, lower bool) float64 {
	if math.IsNaN(x) || math.IsNaN(n) {
		return x + n
	}
	if n <= 0 {
		return math.NaN()
	}
	if math.IsInf(x, 0) {
		if (x < 0) == lower {
			return 0
		}
		return 1
	}
	if math.IsInf(n, 1) {
		return pnorm(x, 0, 1, lower)
	}
	var val float64
	nx := 1 + (x/n)*x
	if nx > 1e100 {
		lbeta := lgamma(0.5*n) + lgamma(0.5) - lgamma(0.5*n+0.5)
		val = math.Exp(-0.5*n*(2*math.Log(math.Abs(x))-math.Log(n)) - lbeta - math.Log(0.5*n))
	} else {
		// I_{n/(n+x²)}(n/2, 1/2), both arguments of the beta computed
		// without cancellation.
		val = incBeta(n/(n+x*x), x*x/(n+x*x), n/2, 0.5)
	}
	if x <= 0 {
		lower = !lower
	}
	val /= 2
	if lower {
		return 0.5 - val + 0.5
	}
	return val
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// incBeta is the regularized incomplete beta function I_x(a, b), with
// y = 1 − x given separately for accuracy; a Lentz continued fraction on
// whichever side converges.
func incBeta(x, y, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case y <= 0:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - incBeta(y, x, b, a)
	}
	lbeta := lgamma(a) + lgamma(b) - lgamma(a+b)
	front := math.Exp(a*math.Log(x) + b*math.Log(y) - lbeta)
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	f := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		for k := 0; k < 2; k++ {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			f *= c * d
			num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		}
		if math.Abs(c*d-1) < 1e-16 {
			break
		}
	}
	return front * f / a
}

// sferrHalves holds stirlerr(n) for n = 0, 0.5, …, 15 (R's stirlerr.c).
var sferrHalves = [31]float64{
	0.0, // n=0: place holder, as in R
	0.1534264097200273452913848, 0.0810614667953272582196702, 0.0548141210519176538961390,
	0.0413406959554092940938221, 0.03316287351993628748511048, 0.02767792568499833914878929,
	0.02374616365629749597132920, 0.02079067210376509311152277, 0.01848845053267318523077934,
	0.01664469118982119216319487, 0.01513497322191737887351255, 0.01387612882307074799874573,
	0.01281046524292022692424986, 0.01189670994589177009505572, 0.01110455975820691732662991,
	0.010411265261972096497478567, 0.009799416126158803298389475, 0.009255462182712732917728637,
	0.008768700134139385462952823, 0.008330563433362871256469318, 0.007934114564314020547248100,
	0.007573675487951840794972024, 0.007244554301320383179543912, 0.006942840107209529865664152,
	0.006665247032707682442354394, 0.006408994188004207068439631, 0.006171712263039457647532867,
	0.005951370112758847735624416, 0.005746216513010115682023589, 0.005554733551962801371038690,
}

// stirlerr(n) = log(n!) − log(√(2πn)·(n/e)^n), Loader's error term.
func stirlerr(n float64) float64 {
	const (
		s0        = 0.083333333333333333333        // 1/12
		s1        = 0.00277777777777777777778      // 1/360
		s2        = 0.00079365079365079365079365   // 1/1260
		s3        = 0.000595238095238095238095238  // 1/1680
		s4        = 0.0008417508417508417508417508 // 1/1188
		lnSqrt2Pi = 0.918938533204672741780329736406
	)
	if n <= 15 {
		nn := n + n
		if nn == math.Trunc(nn) {
			return sferrHalves[int(nn)]
		}
		return lgamma(n+1) - (n+0.5)*math.Log(n) + n - lnSqrt2Pi
	}
	nn := n * n
	switch {
	case n > 500:
		return (s0 - s1/nn) / n
	case n > 80:
		return (s0 - (s1-s2/nn)/nn) / n
	case n > 35:
		return (s0 - (s1-(s2-s3/nn)/nn)/nn) / n
	}
	return (s0 - (s1-(s2-(s3-s4/nn)/nn)/nn)/nn) / n
}

// bd0(x, np) = x·log(x/np) + np − x, without cancellation when x ≈ np.
func bd0(x, np float64) float64 {
	if math.IsInf(x, 0) || math.IsInf(np, 0) || np == 0 {
		return math.NaN()
	}
	if math.Abs(x-np) < 0.1*(x+np) {
		v := (x - np) / (x + np)
		s := (x - np) * v
		if math.Abs(s) < 2.2250738585072014e-308 { // DBL_MIN
			return s
		}
		ej := 2 * x * v
		v *= v
		for j := 1; j < 1000; j++ {
			ej *= v
			s1 := s + ej/float64(2*j+1)
			if s1 == s {
				return s1
			}
			s = s1
		}
	}
	return x*math.Log(x/np) + np - x
}

// dpoisRaw is the Poisson probability of x (R's dpois_raw).
func dpoisRaw(x, lambda float64) float64 {
	const dblMin = 2.2250738585072014e-308
	switch {
	case lambda == 0:
		if x == 0 {
			return 1
		}
		return 0
	case math.IsInf(lambda, 0) || x < 0:
		return 0
	case x <= lambda*dblMin:
		return math.Exp(-lambda)
	case lambda < x*dblMin:
		return math.Exp(-lambda + x*math.Log(lambda) - lgamma(x+1))
	}
	return math.Exp(-stirlerr(x)-bd0(x, lambda)) / math.Sqrt(2*math.Pi*x)
}

// dbinomRaw is the binomial probability of x successes in n trials (R's
// dbinom_raw, with q = 1 − p given separately).
func dbinomRaw(x, n, p, q float64) float64 {
	if p == 0 {
		if x == 0 {
			return 1
		}
		return 0
	}
	if q == 0 {
		if x == n {
			return 1
		}
		return 0
	}
	if x == 0 {
		if n == 0 {
			return 1
		}
		if p < 0.1 {
			return math.Exp(-bd0(n, n*q) - n*p)
		}
		return math.Exp(n * math.Log(q))
	}
	if x == n {
		if q < 0.1 {
			return math.Exp(-bd0(n, n*p) - n*q)
		}
		return math.Exp(n * math.Log(p))
	}
	if x < 0 || x > n {
		return 0
	}
	lc := stirlerr(n) - stirlerr(x) - stirlerr(n-x) - bd0(x, n*p) - bd0(n-x, n*q)
	lf := math.Log(2*math.Pi) + math.Log(x) + math.Log1p(-x/n)
	return math.Exp(lc - 0.5*lf)
}

// dnbinom is the negative binomial probability of x failures before the
// size-th success: R's dnbinom, that is dbinom_raw(size, size + x), but
// with its log1p(−size/(size + x)) written as log(x/(size + x)), which
// keeps full accuracy when size ≫ x (φ just above 1 in muan/nbPlugin),
// where R's dnbinom loses digits but its pnbinom (via pbeta) does not.
func dnbinom(x, size, prob float64) float64 {
	if x == 0 && size == 0 {
		return 1
	}
	if math.IsInf(size, 1) {
		size = math.MaxFloat64
	}
	q := 1 - prob
	if x == 0 {
		return dbinomRaw(size, size, prob, q)
	}
	if prob == 0 || q == 0 {
		return 0
	}
	n := size + x
	lc := stirlerr(n) - stirlerr(size) - stirlerr(x) - bd0(size, n*prob) - bd0(x, n*q)
	lf := math.Log(2*math.Pi) + math.Log(size) + math.Log(x/n)
	return size / n * math.Exp(lc-0.5*lf)
}

// sumTail adds f(k) for k = x, x∓1, … while the terms matter, f being a
// pmf that only decreases that way from x (the caller starts on the far
// side of the mode). Terms come from the ratio f(k')/f(k) of neighbours,
// re-anchored on pmf now and then so rounding does not build up. Past
// maxDirect terms the distribution is wide enough (scale: its standard
// deviation or decay length) for the rest to be summed by Euler–Maclaurin
// with an integral: the work stays bounded whatever the parameters.
func sumTail(pmf func(float64) float64, k float64, down bool, ratio func(k float64) float64, scale float64) float64 {
	const maxDirect = 20000
	t := pmf(k)
	s := t
	for n := 1; t > s*1e-17; n++ {
		if down && k <= 0 {
			break
		}
		if n == maxDirect || k+1 == k { // or past 2⁵³, where k±1 is k
			if down {
				return s + sumDownSmooth(pmf, k-1, ratio, scale)
			}
			return s + sumUpSmooth(pmf, k+1, scale)
		}
		if down {
			t *= ratio(k)
			k--
		} else {
			k++
			t *= ratio(k)
		}
		if n%1024 == 0 {
			t = pmf(k)
		}
		s += t
	}
	return s
}

// sumUpSmooth is Σ_{k ≥ a} f(k) for f decreasing and smooth on the
// unit scale from a: ∫_a^∞ f + f(a)/2 − f′(a)/12 (Euler–Maclaurin; the
// next term is O(f‴), negligible here).
func sumUpSmooth(f func(float64) float64, a, scale float64) float64 {
	corr := f(a)/2 - (f(a+1)-f(a-1))/2/12
	h := math.Max(16, scale/4)
	tol := 1e-16 * f(a) * h // the sum is at least f(a)·h/2 or so
	integral := 0.0
	for i := 0; i < 100000; i++ {
		p := integrate(f, a+float64(i)*h, a+float64(i+1)*h, tol)
		integral += p
		if p <= (integral+corr)*1e-17 {
			break
		}
	}
	return integral + corr
}

// sumDownSmooth is Σ_{0 ≤ k ≤ a} f(k) for f decreasing from a towards 0:
// Euler–Maclaurin on [lo, a] while f is smooth there, the rest (where the
// pmf may bend on the unit scale) term by term.
func sumDownSmooth(f func(float64) float64, a float64, ratio func(float64) float64, scale float64) float64 {
	const lo = 20000
	direct := func(k float64) float64 { // Σ_{j ≤ k} f(j), k < 2·lo
		t := f(k)
		s := t
		for ; k > 0 && t > s*1e-17; k-- {
			t *= ratio(k)
			s += t
		}
		return s
	}
	if a < 2*lo {
		return direct(a)
	}
	fp := func(x float64) float64 { return (f(x+1) - f(x-1)) / 2 }
	h := math.Max(16, scale/4)
	tol := 1e-16 * f(a) * h
	sum := f(a)/2 + fp(a)/12
	for b := a; ; b -= h {
		if b-h <= lo {
			sum += integrate(f, lo, b, tol)
			return sum + f(lo)/2 - fp(lo)/12 + direct(lo-1)
		}
		p := integrate(f, b-h, b, tol)
		sum += p
		if p <= sum*1e-17 {
			return sum
		}
	}
}

// Gauss–Kronrod 15/7 nodes and weights (QUADPACK qk15).
var (
	gkX = [8]float64{0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
		0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
		0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
		0.207784955007898467600689403773245, 0}
	gkWK = [8]float64{0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
		0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
		0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
		0.204432940075298892414161999234649, 0.209482141084727828012999174891714}
	gkWG = [4]float64{0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
		0.381830050505118944950369775488975, 0.417959183673469387755102040816327}
)

// integrate is ∫_a^b f by adaptive Gauss–Kronrod 15: a panel is split
// while its error estimate exceeds absTol and 1e-11 of its value (the
// floor keeps pmfs with rounding noise from recursing for ever), at most
// 16 levels deep.
func integrate(f func(float64) float64, a, b, absTol float64) float64 {
	var rec func(a, b float64, depth int) float64
	rec = func(a, b float64, depth int) float64 {
		c, h := (a+b)/2, (b-a)/2
		fc := f(c)
		k, g := fc*gkWK[7], fc*gkWG[3]
		for j := 0; j < 7; j++ {
			v := f(c-h*gkX[j]) + f(c+h*gkX[j])
			k += gkWK[j] * v
			if j%2 == 1 {
				g += gkWG[j/2] * v
			}
		}
		k, g = k*h, g*h
		if e := math.Abs(k - g); depth >= 16 || e <= absTol || e <= 1e-11*math.Abs(k) || math.IsNaN(k) {
			return k
		}
		return rec(a, c, depth+1) + rec(c, b, depth+1)
	}
	return rec(a, b, 0)
}

// ppois is R's ppois(x, lambda, lower.tail). The tail away from the mode
// is summed from the probability at its edge (terms only decrease there),
// the other is its complement: both keep R's relative accuracy where they
// are small.
func ppois(x, lambda float64, lower bool) float64 {
	if math.IsNaN(x) || math.IsNaN(lambda) {
		return x + lambda
	}
	if lambda < 0 {
		return math.NaN()
	}
	cdf := func(lo float64) float64 {
		if lower {
			return lo
		}
		return 0.5 - lo + 0.5
	}
	x = math.Floor(x + 1e-7)
	if x < 0 {
		return cdf(0)
	}
	if lambda == 0 || math.IsInf(x, 1) {
		return cdf(1)
	}
	pmf := func(k float64) float64 { return dpoisRaw(k, lambda) }
	sigma := math.Sqrt(lambda)
	if x < math.Floor(lambda) {
		lo := sumTail(pmf, x, true, func(k float64) float64 { return k / lambda }, sigma)
		return cdf(lo)
	}
	up := sumTail(pmf, x+1, false, func(k float64) float64 { return lambda / k }, sigma)
	if lower {
		return 0.5 - up + 0.5
	}
	return up
}

// pnbinom is R's pnbinom(x, size, prob, lower.tail), summed like ppois.
func pnbinom(x, size, prob float64, lower bool) float64 {
	if math.IsNaN(x) || math.IsNaN(size) || math.IsNaN(prob) {
		return x + size + prob
	}
	if math.IsInf(size, 0) || size < 0 || prob <= 0 || prob > 1 {
		return math.NaN()
	}
	cdf := func(lo float64) float64 {
		if lower {
			return lo
		}
		return 0.5 - lo + 0.5
	}
	if size == 0 {
		if x >= 0 {
			return cdf(1)
		}
		return cdf(0)
	}
	if x < 0 {
		return cdf(0)
	}
	if math.IsInf(x, 1) || prob == 1 {
		return cdf(1)
	}
	x = math.Floor(x + 1e-7)
	q := 1 - prob
	mode := 0.0
	if size > 1 {
		mode = math.Floor((size - 1) * q / prob)
	}
	pmf := func(k float64) float64 { return dnbinom(k, size, prob) }
	// standard deviation, or the decay length of the geometric tail when
	// that is longer (size < 1)
	scale := math.Max(math.Sqrt(size*q)/prob, -1/math.Log1p(-prob))
	if x < mode {
		lo := sumTail(pmf, x, true, func(k float64) float64 { return k / ((k - 1 + size) * q) }, scale)
		return cdf(lo)
	}
	up := sumTail(pmf, x+1, false, func(k float64) float64 { return (k - 1 + size) * q / k }, scale)
	if lower {
		return 0.5 - up + 0.5
	}
	return up
}

// discreteSearch is R's do_search (qDiscrete_search.h, R ≥ 4.1.1): from
// y with *z = cdf(y), the smallest y (in steps of incr) with cdf(y) ≥ p.
func discreteSearch(y float64, z *float64, p, incr float64, cdf func(float64) float64) float64 {
	if *z >= p { // search to the left
		for {
			newz := -1.0
			if y > 0 {
				newz = cdf(y - incr)
			} else if y < 0 {
				y = 0
			}
			if y == 0 || math.IsNaN(newz) || newz < p {
				return y // and the previous *z
			}
			y = math.Max(0, y-incr)
			*z = newz
		}
	}
	for { // search to the right
		y += incr
		if *z = cdf(y); math.IsNaN(*z) || *z >= p {
			return y
		}
	}
}

// discreteQuantile is R's q_DISCRETE_BODY for the lower tail: a
// Cornish–Fisher start, then a search for the smallest y with
// cdf(y) ≥ p·(1 − 8ε), the fuzz R (≥ 4.1.1) applies for left continuity;
// large starts are searched in shrinking steps.
func discreteQuantile(p, mu, sigma, gamma float64, cdf func(float64) float64) float64 {
	const (
		pfN     = 8
		yLarge  = 4096
		incF    = 1. / 64
		iShrink = 8
		relTol  = 1e-15
	)
	z := qnorm(p, 0, 1)
	y := math.RoundToEven(mu + sigma*(z+gamma*(z*z-1)/6))
	if y < 0 {
		y = 0
	}
	z = cdf(y)
	p *= 1 - pfN*dblEpsilon
	if y < yLarge {
		return discreteSearch(y, &z, p, 1, cdf)
	}
	incr := math.Floor(y * incF)
	for {
		oldincr := incr
		y = discreteSearch(y, &z, p, incr, cdf)
		incr = math.Max(1, math.Floor(incr/iShrink))
		if !(oldincr > 1 && incr > y*relTol) {
			return y
		}
	}
}

// qpois is R's qpois(p, lambda).
func qpois(p, lambda float64) float64 {
	if math.IsNaN(p) || math.IsNaN(lambda) {
		return p + lambda
	}
	if math.IsInf(lambda, 0) || lambda < 0 || p < 0 || p > 1 {
		return math.NaN()
	}
	if lambda == 0 || p == 0 {
		return 0
	}
	if p == 1 {
		return math.Inf(1)
	}
	sigma := math.Sqrt(lambda)
	return discreteQuantile(p, lambda, sigma, 1.0/sigma, func(v float64) float64 { return ppois(v, lambda, true) })
}

// qnbinom is R's qnbinom(p, size, prob).
func qnbinom(p, size, prob float64) float64 {
	if math.IsNaN(p) || math.IsNaN(size) || math.IsNaN(prob) {
		return p + size + prob
	}
	if prob == 0 && size == 0 {
		return 0
	}
	if prob <= 0 || prob > 1 || size < 0 || p < 0 || p > 1 {
		return math.NaN()
	}
	if prob == 1 || size == 0 || p == 0 {
		return 0
	}
	if p == 1 {
		return math.Inf(1)
	}
	Q := 1.0 / prob
	P := (1.0 - prob) * Q
	sigma := math.Sqrt(size * P * Q)
	return discreteQuantile(p, size*P, sigma, (Q+P)/sigma, func(v float64) float64 { return pnbinom(v, size, prob, true) })
}
