package surveillance

import (
	"errors"
	"fmt"
	"math"
)

// A quasi-Poisson GLM with log link fitted as R's glm.fit fits it: the
// Farrington bounds are compared with R's to 1e-9, so the iteration, its
// stopping rule and which weights end up in the covariance all follow R.

// qrDecomp is a Householder QR of an n×p matrix with R's limited column
// pivoting (LINPACK dqrdc2 as modified for R): columns whose norm falls
// below tol times their original norm are moved to the end and left out
// of the rank. x holds R on and above the diagonal and the Householder
// vectors below it, column-major, as dqrdc2 leaves them.
type qrDecomp struct {
	n, p  int
	x     []float64 // column-major n×p
	qraux []float64
	pivot []int // pivot[j] is the original column at position j
	rank  int
	// scratch
	work, tmp []float64
}

// qrFactor factors x (column-major n×p, overwritten) with tolerance tol,
// reusing qr's buffers when it is not nil.
func qrFactor(qr *qrDecomp, x []float64, n, p int, tol float64) *qrDecomp {
	if qr == nil || len(qr.qraux) != p || len(qr.tmp) != n {
		qr = &qrDecomp{qraux: make([]float64, p), pivot: make([]int, p),
			work: make([]float64, 2*p), tmp: make([]float64, n)}
	}
	qr.n, qr.p, qr.x = n, p, x
	work1 := qr.work[:p] // norms as updated
	work2 := qr.work[p:] // original norms, the reference for tol
	col := func(j int) []float64 { return x[j*n : (j+1)*n] }
	for j := 0; j < p; j++ {
		qr.pivot[j] = j
		nrm := nrm2(col(j))
		qr.qraux[j], work1[j], work2[j] = nrm, nrm, nrm
		if work2[j] == 0 {
			work2[j] = 1
		}
	}
	lup := min(n, p)
	k := p + 1 // 1-based, as in dqrdc2
	tmp := qr.tmp
	for l := 0; l < lup; l++ {
		// Cycle negligible columns to the end; l+1 < k avoids cycling
		// forever.
		for l+1 < k && qr.qraux[l] < work2[l]*tol {
			copy(tmp, col(l))
			copy(x[l*n:(p-1)*n], x[(l+1)*n:p*n])
			copy(col(p-1), tmp)
			pv, qa, w1, w2 := qr.pivot[l], qr.qraux[l], work1[l], work2[l]
			copy(qr.pivot[l:], qr.pivot[l+1:])
			copy(qr.qraux[l:], qr.qraux[l+1:])
			copy(work1[l:], work1[l+1:])
			copy(work2[l:], work2[l+1:])
			qr.pivot[p-1], qr.qraux[p-1], work1[p-1], work2[p-1] = pv, qa, w1, w2
			k--
		}
		if l == n-1 {
			break
		}
		cl := col(l)
		nrmxl := nrm2(cl[l:])
		if nrmxl == 0 {
			continue
		}
		if cl[l] != 0 {
			nrmxl = math.Copysign(nrmxl, cl[l])
		}
		for i := l; i < n; i++ {
			cl[i] *= 1 / nrmxl
		}
		cl[l] = 1 + cl[l]
		for j := l + 1; j < p; j++ {
			cj := col(j)
			householder(cl[l:], cj[l:])
			if qr.qraux[j] == 0 {
				continue
			}
			tt := 1 - (math.Abs(cj[l])/qr.qraux[j])*(math.Abs(cj[l])/qr.qraux[j])
			tt = math.Max(tt, 0)
			if math.Abs(tt) < 1e-6 {
				qr.qraux[j] = nrm2(cj[l+1:])
				work1[j] = qr.qraux[j]
			} else {
				qr.qraux[j] *= math.Sqrt(tt)
			}
		}
		qr.qraux[l] = cl[l]
		cl[l] = -nrmxl
	}
	qr.rank = min(k-1, n)
	return qr
}

// nrm2 is the Euclidean norm, scaled against overflow as BLAS dnrm2.
func nrm2(v []float64) float64 {
	scale, ssq := 0.0, 1.0
	for _, a := range v {
		if a != 0 {
			a = math.Abs(a)
			if scale < a {
				ssq = 1 + ssq*(scale/a)*(scale/a)
				scale = a
			} else {
				ssq += (a / scale) * (a / scale)
			}
		}
	}
	return scale * math.Sqrt(ssq)
}

// applyH applies Householder reflection j (0-based) to v in place.
func (qr *qrDecomp) applyH(j int, v []float64) {
	n := qr.n
	if qr.qraux[j] == 0 {
		return
	}
	cj := qr.x[j*n : (j+1)*n]
	diag := cj[j]
	cj[j] = qr.qraux[j]
	householder(cj[j:], v[j:])
	cj[j] = diag
}

// householder applies the Householder reflection stored in h (h[0] its
// leading element, as LINPACK keeps it) to v: v − (h·v / h[0]) h.
func householder(h, v []float64) {
	t := 0.0
	for i := range h {
		t += h[i] * v[i]
	}
	t = -t / h[0]
	for i := range h {
		v[i] += t * h[i]
	}
}

// qty replaces y by Qᵀy (dqrsl).
func (qr *qrDecomp) qty(y []float64) {
	for j := 0; j < min(qr.rank, qr.n-1); j++ {
		qr.applyH(j, y)
	}
}

// qy replaces y by Qy (dqrsl).
func (qr *qrDecomp) qy(y []float64) {
	for j := min(qr.rank, qr.n-1) - 1; j >= 0; j-- {
		qr.applyH(j, y)
	}
}

// r returns element (i, j) of R (pivoted order).
func (qr *qrDecomp) r(i, j int) float64 { return qr.x[j*qr.n+i] }

// coef solves R b = (Qᵀy)[:rank] for the pivoted coefficients; those
// past the rank are 0, as dqrls leaves them. y is overwritten by Qᵀy, b
// must hold p values.
func (qr *qrDecomp) coef(y, b []float64) []float64 {
	qty := y
	qr.qty(qty)
	clear(b)
	for j := qr.rank - 1; j >= 0; j-- {
		s := qty[j]
		for i := j + 1; i < qr.rank; i++ {
			s -= qr.r(j, i) * b[i]
		}
		b[j] = s / qr.r(j, j)
	}
	return b
}

// rtSolveNorm2 returns ‖R⁻ᵀv‖² for v in pivoted order (first rank entries):
// x₀ᵀ(XᵀWX)⁻¹x₀ as predict.lm computes it from the QR.
func (qr *qrDecomp) rtSolveNorm2(v []float64) float64 {
	u := make([]float64, qr.rank)
	s2 := 0.0
	for j := 0; j < qr.rank; j++ {
		s := v[j]
		for i := 0; i < j; i++ {
			s -= qr.r(i, j) * u[i]
		}
		u[j] = s / qr.r(j, j)
		s2 += u[j] * u[j]
	}
	return s2
}

// glmFit is what the Farrington algorithms use of a glm object.
type glmFit struct {
	coef      []float64 // original column order; NaN where aliased
	mu, eta   []float64 // from the final coefficients
	wt        []float64 // working weights at the start of the last iteration
	prior     []float64
	y         []float64
	qr        *qrDecomp // of √wt·X
	converged bool
	dfResid   int
}

// errGLMNoValidCoef is glm.fit's "no valid set of coefficients has been
// found" (and "cannot correct step size"): R stops there.
var errGLMNoValidCoef = errors.New("glm: no valid set of coefficients")

// fitQuasiPoisson fits log E[y] = Xβ, Var y = φμ by IRLS exactly as
// glm.fit(x, y, weights = prior, family = quasipoisson()) with R's
// defaults (epsilon 1e-8, maxit 25). X is row-major n×p; prior may be nil
// (all 1).
func fitQuasiPoisson(X [][]float64, y, prior []float64) (*glmFit, error) {
	n := len(y)
	if n == 0 {
		return nil, errors.New("glm: no observations")
	}
	p := len(X[0])
	if prior == nil {
		prior = make([]float64, n)
		for i := range prior {
			prior[i] = 1
		}
	}
	for i, v := range y {
		if v < 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("glm: invalid response %v at row %d", v, i)
		}
	}
	const (
		epsilon = 1e-8
		maxit   = 25
		tol     = 1e-11 // min(1e-7, epsilon/1000), glm.fit's QR tolerance
	)
	linkinv := func(eta float64) float64 { return math.Max(math.Exp(eta), dblEpsilon) }
	deviance := func(mu []float64) float64 {
		s := 0.0
		for i := range y {
			r := mu[i] * prior[i]
			if y[i] > 0 {
				r = prior[i] * (y[i]*math.Log(y[i]/mu[i]) - (y[i] - mu[i]))
			}
			s += 2 * r
		}
		return s
	}
	mulX := func(beta []float64, eta, mu []float64) {
		for i := range X {
			e := 0.0
			for j, b := range beta {
				e += X[i][j] * b
			}
			eta[i] = e
			mu[i] = linkinv(e)
		}
	}

	eta := make([]float64, n)
	mu := make([]float64, n)
	for i := range y {
		eta[i] = math.Log(y[i] + 0.1)
		mu[i] = linkinv(eta[i])
	}
	devold := deviance(mu)
	var coefold, start []float64
	wt := make([]float64, n)
	xw := make([]float64, n*p)
	zw := make([]float64, n)
	var qr *qrDecomp
	bbuf := make([]float64, p)
	conv := false
	for iter := 1; iter <= maxit; iter++ {
		for i := range y {
			muEta := linkinv(eta[i])
			z := eta[i] + (y[i]-mu[i])/muEta
			w := math.Sqrt(prior[i] * (muEta * muEta) / mu[i])
			wt[i] = w * w
			for j := 0; j < p; j++ {
				xw[j*n+i] = X[i][j] * w
			}
			zw[i] = z * w
		}
		qr = qrFactor(qr, xw, n, p, tol)
		b := qr.coef(zw, bbuf)
		for _, v := range b {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				// glm.fit warns "non-finite coefficients" and stops
				// iterating, not converged.
				return nil, errGLMNoValidCoef
			}
		}
		start = make([]float64, p)
		for j, c := range qr.pivot {
			start[c] = b[j]
		}
		mulX(start, eta, mu)
		dev := deviance(mu)
		if math.IsNaN(dev) || math.IsInf(dev, 0) {
			if coefold == nil {
				return nil, errGLMNoValidCoef
			}
			for ii := 1; math.IsNaN(dev) || math.IsInf(dev, 0); ii++ {
				if ii > maxit {
					return nil, errGLMNoValidCoef
				}
				for j := range start {
					start[j] = (start[j] + coefold[j]) / 2
				}
				mulX(start, eta, mu)
				dev = deviance(mu)
			}
		}
		if math.Abs(dev-devold)/(math.Abs(dev)+0.1) < epsilon {
			conv = true
			break
		}
		devold = dev
		coefold = start
	}
	nOK := 0 // glm.fit's n.ok: zero prior weights do not count
	for _, w := range prior {
		if w != 0 {
			nOK++
		}
	}
	f := &glmFit{mu: mu, eta: eta, wt: wt, prior: prior, y: y, qr: qr, converged: conv,
		coef: start, dfResid: nOK - qr.rank}
	for j := qr.rank; j < p; j++ {
		f.coef[qr.pivot[j]] = math.NaN()
	}
	return f, nil
}

// dispersion is summary.glm's estimate Σ wᵢ rᵢ² / df over wᵢ > 0, with r
// the working residuals (y − μ)/μ and w the weights the glm object holds:
// the working weights, or whatever the caller has overwritten them with.
func (f *glmFit) dispersion(w []float64) float64 {
	if f.dfResid <= 0 {
		return math.NaN()
	}
	s := 0.0
	for i, y := range f.y {
		if w[i] > 0 {
			r := (y - f.mu[i]) / f.mu[i]
			s += w[i] * r * r
		}
	}
	return s / float64(f.dfResid)
}

// hat returns the hat values as lm.influence computes them: the squared
// row norms of Q's first rank columns, 1 from 1 − 10ε on.
func (f *glmFit) hat() []float64 {
	qr := f.qr
	h := make([]float64, qr.n)
	v := make([]float64, qr.n)
	for j := 0; j < qr.rank; j++ {
		clear(v)
		v[j] = 1
		qr.qy(v)
		for i, a := range v {
			h[i] += a * a
		}
	}
	for i := range h {
		if h[i] >= 1-10*dblEpsilon {
			h[i] = 1
		}
	}
	return h
}

// xVar returns x₀ᵀ(XᵀWX)⁻¹x₀ for a row x0 in original column order,
// leaving out aliased columns as predict.lm does.
func (f *glmFit) xVar(x0 []float64) float64 {
	v := make([]float64, f.qr.rank)
	for j := range v {
		v[j] = x0[f.qr.pivot[j]]
	}
	return f.qr.rtSolveNorm2(v)
}

// linPred returns x₀ᵀβ over the non-aliased coefficients.
func (f *glmFit) linPred(x0 []float64) float64 {
	e := 0.0
	for j := 0; j < f.qr.rank; j++ {
		c := f.qr.pivot[j]
		e += x0[c] * f.coef[c]
	}
	return e
}

// coefVar returns the unscaled variance of coefficient c (original
// order), NaN if it is aliased: diag of chol2inv(R).
func (f *glmFit) coefVar(c int) float64 {
	e := make([]float64, len(f.coef))
	e[c] = 1
	if math.IsNaN(f.coef[c]) {
		return math.NaN()
	}
	return f.xVar(e)
}
