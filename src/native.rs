//! The pure math of native (sparse exponential) histograms, computed
//! exactly as Prometheus' client_golang computes it (`prometheus/histogram.go`):
//! which bucket an observation falls into, a bucket's upper bound, and the
//! span/delta encoding of the protobuf exposition format.
//!
//! # Buckets
//!
//! A native histogram with schema `s` (`MIN_SCHEMA..=MAX_SCHEMA`) has the
//! base `b = 2^(2^-s)`. Bucket `i` of the positive side counts the
//! observations `v` with `b^(i-1) < v <= b^i` (upper bounds inclusive);
//! bucket `i` of the negative side counts those with `b^(i-1) < -v <= b^i`.
//! Observations with `|v| <= zero_threshold` go to the zero bucket instead,
//! and client_golang counts `±Inf` in the bucket one above the one holding
//! `±f64::MAX`. The schemas nest: bucket `i` at schema `s - 1` is the union
//! of buckets `2i - 1` and `2i` at schema `s`.
//!
//! For `s > 0` the bounds are not powers of two, and client_golang does not
//! compute them on the fly: it stores, per schema, the `2^s` bounds that
//! fall into `[0.5, 1)` and scales them by powers of two. Those stored
//! values are *not* all correctly rounded (`sqrt(0.5)` is stored one ulp
//! low, for instance), so an exact match with client_golang needs exactly
//! those numbers: [`BOUNDS_8`] is client_golang's schema-8 table, verbatim; the
//! tables of schemas 1 to 7 are every `2^(8-s)`-th entry of it, which is
//! how client_golang generated them (its literals agree; the tests check a
//! few).
//!
//! # Quantile error
//!
//! A bucket's upper bound is `b` times its lower bound, so any estimate
//! placed inside the bucket that holds the true value is within a factor
//! `b` of it. Precisely: let a histogram hold `n > 0` observations, let
//! `0 < q <= 1`, let `x` be the `⌈q·n⌉`-th smallest observation (the
//! nearest-rank `q`-quantile) and `x̂` what PromQL's `histogram_quantile(q,
//! …)` returns, which in Prometheus 2.42 interpolates linearly inside the
//! first bucket whose cumulative count reaches the rank `q·n`. Then `x` lies
//! in that very bucket `(l, u]` (its cumulative count before the bucket is
//! below `q·n <= ⌈q·n⌉` and its count through it an integer at least
//! `q·n`), and so does `x̂ = l + (u - l)·(q·n - before)/count`. Hence
//! `1/b < x̂/x < b`, and the relative error is bounded by
//!
//! ```text
//! |x̂ - x| / x  <  b - 1  =  2^(2^-s) - 1    (and |x̂ - x| / x̂ < 1 - 1/b)
//! ```
//!
//! The bound is tight (observations piled at a bucket's lower edge, the rank
//! at its top), holds on the negative side for `|x|`, and stays the same
//! under the exponential interpolation later Prometheus versions use (that
//! estimate is inside the bucket as well); the stored bounds' rounding adds
//! a few ulps. By schema:
//!
//! | schema | `b - 1` (relative error below) |
//! |-------:|:-------------------------------|
//! | 8 | 0.002711 (0.27 %) |
//! | 7 | 0.005430 (0.54 %) |
//! | 6 | 0.010889 (1.09 %) |
//! | 5 | 0.021897 (2.19 %) |
//! | 4 | 0.044274 (4.43 %) |
//! | 3 | 0.090508 (9.05 %) |
//! | 2 | 0.189207 (18.9 %) |
//! | 1 | 0.414214 (41.4 %) |
//! | 0 | 1 |
//! | -1 | 3 |
//! | -2 | 15 |
//! | -3 | 255 |
//! | -4 | 65535 |
//!
//! A quantile that lands in the zero bucket has no relative bound: it is
//! interpolated across `[-zero_threshold, zero_threshold]` (or `[0,
//! zero_threshold]` without negative buckets), so its absolute error is at
//! most `2·zero_threshold`. One that lands in the `±Inf` bucket is unbounded.
//!
//! # Cost
//!
//! [`bucket_index`] allocates nothing, takes no lock and, for `s > 0`, reads
//! one `u64` from a 4 KiB table built at compile time instead of
//! client_golang's binary search (see [`CELLS`]); [`spans_and_deltas`]
//! allocates nothing either.

#![forbid(unsafe_code)]

/// The lowest schema client_golang and Prometheus accept (base `2^16`).
pub(crate) const MIN_SCHEMA: i8 = -4;

/// The highest schema client_golang and Prometheus accept (base
/// `2^(1/256)`).
pub(crate) const MAX_SCHEMA: i8 = 8;

/// The bound `base - 1` on the relative error of a quantile estimated
/// inside a bucket at `schema` (see the module docs, "Quantile error"),
/// with the base `2^(2^-s)` as client_golang's stored bounds give it
/// (bucket 1's upper bound; exact for `s <= 0`).
pub(crate) fn max_relative_error(schema: i8) -> f64 {
    bucket_upper_bound(1, schema) - 1.0
}

/// The 52 mantissa bits of an `f64`.
const MANTISSA_MASK: u64 = (1 << 52) - 1;

/// The sign bit of an `f64`.
const SIGN_BIT: u64 = 1 << 63;

/// The biased exponent field of the numbers in `[0.5, 1)`.
const HALF_EXPONENT_FIELD: u64 = 1022;

/// client_golang's `nativeHistogramBounds[8]`, verbatim: the schema-8
/// bucket bounds inside `[0.5, 1)`, `≈ 2^(j/256 - 1)` for `j` in `0..256`
/// (copied, not computed, because many are not correctly rounded and the
/// bucket of a value on or next to a bound depends on the exact number).
/// Schema `s`'s table is `BOUNDS_8[j << (8 - s)]` for `j` in `0..2^s`.
#[rustfmt::skip]
const BOUNDS_8: [f64; 256] = [
    0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088,
    0.5054446430258502, 0.5068150424757447, 0.5081891574554764, 0.509566998038869,
    0.5109485743270583, 0.5123338964485679, 0.5137229745593818, 0.5151158188430205,
    0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158,
    0.5221368912137069, 0.5235525479396449, 0.5249720429003435, 0.526395386502313,
    0.5278225891802786, 0.5292536613972564, 0.5306886136446309, 0.5321274564422321,
    0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954,
    0.5393803988785598, 0.5408428074966075, 0.5423091811066545, 0.5437795304588847,
    0.5452538663326288, 0.5467321995364429, 0.5482145409081883, 0.549700901315111,
    0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
    0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098,
    0.5632608093041209, 0.564787964283144, 0.5663192597993595, 0.5678547070789026,
    0.5693943173783458, 0.5709381019847808, 0.572486072215902, 0.5740382394200894,
    0.5755946149764913, 0.5771552102951081, 0.5787200368168754, 0.5802891060137493,
    0.5818624293887887, 0.5834400184762408, 0.585021884841625, 0.5866080400818185,
    0.5881984958251406, 0.5897932637314379, 0.5913923554921704, 0.5929957828304968,
    0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
    0.6010783657263515, 0.6027080545025619, 0.6043421618132907, 0.6059806996384005,
    0.6076236799902344, 0.6092711149137041, 0.6109230164863786, 0.6125793968185725,
    0.6142402680534349, 0.6159056423670379, 0.6175755319684665, 0.6192499490999082,
    0.620928906036742, 0.622612415087629, 0.6243004885946023, 0.6259931389331581,
    0.6276903785123455, 0.6293922197748583, 0.6310986751971253, 0.6328097572894031,
    0.6345254785958666, 0.6362458516947014, 0.637970889198196, 0.6397006037528346,
    0.6414350080393891, 0.6431741147730128, 0.6449179367033329, 0.6466664866145447,
    0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
    0.6554806057623822, 0.6572577939746774, 0.659039800633032, 0.6608266388015788,
    0.6626183215798706, 0.6644148621029772, 0.6662162735415805, 0.6680225691020727,
    0.6698337620266515, 0.6716498655934177, 0.6734708931164728, 0.6752968579460171,
    0.6771277734684463, 0.6789636531064505, 0.6808045103191123, 0.6826503586020058,
    0.6845012114872953, 0.6863570825438342, 0.688217985377265, 0.690083933630119,
    0.6919549409819159, 0.6938310211492645, 0.6957121878859629, 0.6975984549830999,
    0.6994898362691555, 0.7013863456101023, 0.7032879969095076, 0.7051948041086352,
    0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
    0.7148066691959849, 0.7167447066838943, 0.718687998724491, 0.7206365595643126,
    0.7225904034885232, 0.7245495448210174, 0.7265139979245261, 0.7284837772007218,
    0.7304588970903234, 0.7324393720732029, 0.7344252166684908, 0.7364164454346837,
    0.7384130729697496, 0.7404151139112358, 0.7424225829363761, 0.7444354947621984,
    0.7464538641456323, 0.7484777058836176, 0.7505070348132126, 0.7525418658117031,
    0.7545822137967112, 0.7566280937263048, 0.7586795205991071, 0.7607365094544071,
    0.762799075372269, 0.7648672334736434, 0.7669409989204777, 0.7690203869158282,
    0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
    0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461707,
    0.7879904225539431, 0.7901268813264122, 0.7922691326262467, 0.7944171921585818,
    0.7965710756711334, 0.7987307989543135, 0.8008963778413465, 0.8030678282083853,
    0.805245165974627, 0.8074284071024302, 0.8096175675974316, 0.8118126635086642,
    0.8140137109286738, 0.8162207259936375, 0.8184337248834821, 0.820652723822003,
    0.8228777390769823, 0.8251087869603088, 0.8273458838280969, 0.8295890460808079,
    0.8318382901633681, 0.8340936325652911, 0.8363550898207981, 0.8386226785089391,
    0.8408964152537144, 0.8431763167241966, 0.8454623996346523, 0.8477546807446661,
    0.8500531768592616, 0.8523579048290255, 0.8546688815502312, 0.8569861239649629,
    0.8593096490612387, 0.8616394738731368, 0.8639756154809185, 0.8663180910111553,
    0.8686669176368529, 0.871022112577578, 0.8733836930995842, 0.8757516765159389,
    0.8781260801866495, 0.8805069215187917, 0.8828942179666361, 0.8852879870317771,
    0.8876882462632604, 0.890095013257712, 0.8925083056594671, 0.8949281411607002,
    0.8973545375015533, 0.8997875124702672, 0.9022270839033115, 0.9046732696855155,
    0.9071260877501991, 0.909585556079304, 0.9120516927035263, 0.9145245157024483,
    0.9170040432046711, 0.9194902933879467, 0.9219832844793128, 0.9244830347552253,
    0.9269895625416926, 0.92950288621441, 0.9320230241988943, 0.9345499949706191,
    0.9370838170551498, 0.93962450902828, 0.9421720895161669, 0.9447265771954693,
    0.9472879907934827, 0.9498563490882775, 0.9524316709088368, 0.9550139751351947,
    0.9576032806985735, 0.9601996065815236, 0.9628029718180622, 0.9654133954938133,
    0.9680308967461471, 0.9706554947643201, 0.9732872087896164, 0.9759260581154889,
    0.9785720620876999, 0.9812252401044634, 0.9838856116165875, 0.9865531961276168,
    0.9892280131939752, 0.9919100824251095, 0.9945994234836328, 0.9972960560854698,
];

/// Address bits of [`CELLS`]: the top 9 of the 52 mantissa bits.
const CELL_BITS: u32 = 9;

/// How far a mantissa shifts right to give its cell.
const CELL_SHIFT: u32 = 52 - CELL_BITS;

/// The mantissa field of a number in `[0.5, 1)`, checked at compile time.
const fn half_mantissa(x: f64) -> u64 {
    let bits = x.to_bits();
    assert!(
        bits >> 52 == HALF_EXPONENT_FIELD,
        "a bound outside [0.5, 1)"
    );
    bits & MANTISSA_MASK
}

/// The schema-8 lookup that replaces client_golang's binary search.
///
/// A fraction `f` in `[0.5, 1)` is `0.5 · (1 + m/2^52)` for its mantissa
/// field `m`, and comparing fractions is comparing their `m`. Cut `[0.5,
/// 1)` into 512 cells by the top 9 bits of `m`: a cell is `2^-10` wide,
/// less than the narrowest gap between two schema-8 bounds (`0.5 ·
/// (2^(1/256) - 1) ≈ 0.00136`, at the bottom), so it holds at most one
/// bound (checked at compile time). Entry `c` packs `lo << 52 | t`: `lo`,
/// the number of bounds below the cell's start, and `t`, the mantissa of
/// the first bound at or above it (`MANTISSA_MASK`, above every mantissa,
/// when none is). The number of bounds below `f`, which is what
/// `sort.SearchFloat64s(bounds, f)` returns, is then `lo + (m > t)`.
static CELLS: [u64; 1 << CELL_BITS] = build_cells();

/// Builds [`CELLS`] from [`BOUNDS_8`] (one merge pass; panics, at compile
/// time, if the bounds are not increasing in `[0.5, 1)` or two share a
/// cell).
const fn build_cells() -> [u64; 1 << CELL_BITS] {
    let mut j = 1;
    while j < BOUNDS_8.len() {
        assert!(
            half_mantissa(BOUNDS_8[j - 1]) < half_mantissa(BOUNDS_8[j]),
            "bounds not increasing"
        );
        j += 1;
    }
    assert!(
        half_mantissa(BOUNDS_8[0]) == 0,
        "the first bound is not 0.5"
    );

    let mut cells = [0u64; 1 << CELL_BITS];
    let mut lo = 0usize; // bounds below the current cell's start
    let mut c = 0usize;
    while c < cells.len() {
        let start = (c as u64) << CELL_SHIFT;
        let end = start + (1 << CELL_SHIFT);
        while lo < BOUNDS_8.len() && half_mantissa(BOUNDS_8[lo]) < start {
            lo += 1;
        }
        let threshold = if lo < BOUNDS_8.len() {
            half_mantissa(BOUNDS_8[lo])
        } else {
            MANTISSA_MASK
        };
        assert!(
            lo + 1 >= BOUNDS_8.len() || half_mantissa(BOUNDS_8[lo + 1]) >= end,
            "two bounds in one cell"
        );
        cells[c] = ((lo as u64) << 52) | threshold;
        c += 1;
    }
    cells
}

/// The number of schema-8 bounds strictly below the fraction whose mantissa
/// field is `m` (`0..=256`): client_golang's
/// `sort.SearchFloat64s(nativeHistogramBounds[8], frac)`.
#[inline]
fn bounds_below(m: u64) -> i32 {
    // `& 511` is a no-op on a 52-bit mantissa; it lets the compiler drop
    // the bounds check.
    let cell = CELLS[((m >> CELL_SHIFT) & ((1 << CELL_BITS) - 1)) as usize];
    (cell >> 52) as i32 + i32::from(m > cell & MANTISSA_MASK)
}

/// `frexp`: splits `x` into a fraction `f` with `0.5 <= |f| < 1` (sign
/// kept) and an exponent `e` with `x = f · 2^e`, subnormals included. Like
/// Go's `math.Frexp`, `±0`, `±Inf` and NaN come back unchanged with `e = 0`.
pub(crate) fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let field = (bits >> 52) & 0x7ff;
    if field == 0x7ff || x == 0.0 {
        return (x, 0);
    }
    let (mantissa, exp) = split(bits & !SIGN_BIT);
    let frac = f64::from_bits((bits & SIGN_BIT) | (HALF_EXPONENT_FIELD << 52) | mantissa);
    (frac, exp)
}

/// [`frexp`] of a positive finite nonzero `x`, given as `x.to_bits()`,
/// without building the fraction: its mantissa field and the exponent.
/// (For `+0` it returns some pair without panicking.)
#[inline]
fn split(bits: u64) -> (u64, i32) {
    let field = (bits >> 52) as i32;
    if field == 0 {
        return split_subnormal(bits);
    }
    (bits & MANTISSA_MASK, field - HALF_EXPONENT_FIELD as i32)
}

/// [`split`] for a subnormal: shifts the highest set bit `p` (the value is
/// `bits · 2^-1074`) up to the implicit bit's place, 52, and takes it off;
/// the exponent is then `p + 1 - 1074`.
#[cold]
fn split_subnormal(bits: u64) -> (u64, i32) {
    let p = 63 - bits.leading_zeros() as i32;
    let mantissa = (bits << (52 - p)) & MANTISSA_MASK;
    (mantissa, p - 1073)
}

/// `ldexp`: `x · 2^e`, rounded once (to nearest, ties to even) as Go's
/// `math.Ldexp` does, overflowing to `±Inf` and underflowing through the
/// subnormals to `±0`.
fn ldexp(x: f64, e: i64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let (frac, fe) = frexp(x);
    // x · 2^e = frac · 2^e with frac in [0.5, 1).
    let e = e.saturating_add(i64::from(fe));
    let with_exponent = |f: f64, e: i64| {
        // f · 2^e for e in -1021..=1024: a normal number, exact.
        let field = (HALF_EXPONENT_FIELD as i64 + e) as u64;
        f64::from_bits((f.to_bits() & !(0x7ff << 52)) | (field << 52))
    };
    if e > 1024 {
        f64::INFINITY.copysign(x)
    } else if e >= -1021 {
        with_exponent(frac, e)
    } else if e >= -1085 {
        // Subnormal or zero: scale exactly to a normal number, then round
        // once by the exact factor 2^-64.
        let two_to_minus_64 = f64::from_bits((1023 - 64) << 52);
        with_exponent(frac, e + 64) * two_to_minus_64
    } else {
        // Below 2^-1085, far under half the least subnormal.
        0.0f64.copysign(x)
    }
}

/// The index of the bucket holding `|v|` at `schema`, bit for bit what
/// client_golang's `histogramCounts.observe` computes: the `i` with
/// `bucket_upper_bound(i - 1) < |v| <= bucket_upper_bound(i)` (exactly so
/// in the normal range; below it the bounds are rounded and may equal
/// `|v|` on either side).
///
/// The caller handles the zero bucket: `v` must satisfy `|v| >
/// zero_threshold >= 0`, so it is not zero (a zero gets some index). As
/// in client_golang, `±Inf` gets the index one above that of `±f64::MAX`.
/// NaN is not counted by client_golang; here it gets the `±Inf` index.
/// `schema` must lie in `MIN_SCHEMA..=MAX_SCHEMA` (checked in debug
/// builds).
///
/// With `(f, e) = frexp(|v|)`:
///
/// * `schema <= 0`: the schema-0 index is `e`, less one when `f == 0.5`
///   (`|v|` a power of two, the upper bound of its bucket), and the index
///   at `schema` is that divided by `2^-schema` rounding up,
///   `(key + 2^-schema - 1) >> -schema`, the shift being arithmetic.
/// * `schema > 0`: client_golang takes `sort.SearchFloat64s(bounds, f) +
///   (e - 1) · 2^schema` over the schema's `2^schema` bounds in `[0.5, 1)`.
///   Here the count `c8` of schema-8 bounds below `f` comes from one
///   lookup in [`CELLS`]; `(e - 1) · 256 + c8` is the schema-8 index, and
///   as the schema-`s` bounds are every `2^(8-s)`-th schema-8 bound, the
///   schema-`s` count is `c8 / 2^(8-s)` rounded up, so the index is the
///   schema-8 index divided by `2^(8-s)` rounding up.
#[inline]
pub(crate) fn bucket_index(v: f64, schema: i8) -> i32 {
    debug_assert!(
        (MIN_SCHEMA..=MAX_SCHEMA).contains(&schema),
        "schema {schema} out of range"
    );
    let a = v.abs();
    // Not `a > f64::MAX`: NaN must take this branch too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(a <= f64::MAX) {
        return overflow_index(schema);
    }
    let (mantissa, exp) = split(a.to_bits());
    if schema > 0 {
        let index_8 = (exp - 1) * 256 + bounds_below(mantissa);
        let shift = (MAX_SCHEMA - schema) as u32;
        (index_8 + (1 << shift) - 1) >> shift
    } else {
        let key = exp - i32::from(mantissa == 0);
        let shift = (-schema) as u32;
        (key + (1 << shift) - 1) >> shift
    }
}

/// The index client_golang gives `±Inf`: one above `±f64::MAX`'s.
#[cold]
fn overflow_index(schema: i8) -> i32 {
    bucket_index(f64::MAX, schema) + 1
}

/// The upper bound of bucket `index` at `schema`, as client_golang's
/// `getLe` computes it: `2^(index · 2^-schema)` for `schema <= 0`, and
/// `bounds[index mod 2^schema] · 2^(index div 2^schema + 1)` (floored
/// division) for `schema > 0`. The bucket holding `f64::MAX`, whose bound by
/// that formula would be `2^1024`, reports `f64::MAX`, and the one above it
/// (`±Inf`'s) `+Inf`, as in client_golang; bounds below the normal range are
/// rounded to the nearest subnormal or zero. For negative buckets the
/// bound is the negation: this is the bound of `|v|`.
pub(crate) fn bucket_upper_bound(index: i32, schema: i8) -> f64 {
    debug_assert!(
        (MIN_SCHEMA..=MAX_SCHEMA).contains(&schema),
        "schema {schema} out of range"
    );
    if schema <= 0 {
        let exp = i64::from(index) << (-schema) as u32;
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let frac_index = (index & ((1 << schema) - 1)) as usize;
    let frac = BOUNDS_8[frac_index << (MAX_SCHEMA - schema) as u32];
    let exp = i64::from(index >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// Writes dense bucket counts as the protobuf exposition's spans and
/// deltas, as client_golang's `makeBuckets` does.
///
/// `counts[k]` is the count of bucket `first_index + k`; a zero count is an
/// absent bucket. (client_golang's map may hold a bucket whose count is 0
/// after a reset and writes it; both decode to the same histogram.) For
/// each span, `span(offset, length)` is called once the span is complete,
/// so after its deltas: the first span's offset is its absolute index,
/// every later one's the number of buckets between the previous span's
/// end and its start. A gap of one or two absent buckets does not end a
/// span: the span takes them in as empty buckets (deltas bringing the
/// count to 0). `delta(d)` is called for every bucket of every span in
/// order, `d` being its count minus the previous bucket's (the first
/// bucket's minus 0), in wrapping `u64` arithmetic read as `i64`. All
/// counts zero (or none): neither is called. (client_golang writes a
/// single `(0, 0)` span for a histogram with no buckets at all and a
/// zero threshold of 0; that is the caller's business.)
///
/// Indexes must fit in `i32`. Nothing is allocated. A caller that writes
/// spans and deltas into separate places can call this twice, ignoring
/// one of the two each time.
pub(crate) fn spans_and_deltas(
    first_index: i32,
    counts: &[u64],
    mut span: impl FnMut(i32, u32),
    mut delta: impl FnMut(i64),
) {
    // The span being built (none before the first populated bucket).
    let mut started = false;
    let mut offset = 0i32;
    let mut length = 0u32;
    // The index just past the open span (0 at the start, which makes the
    // first span's offset absolute: Go's `nextI`).
    let mut next: i64 = 0;
    let mut prev: u64 = 0;
    for (this, &count) in (i64::from(first_index)..).zip(counts) {
        if count == 0 {
            continue;
        }
        let gap = this - next;
        if started && gap <= 2 {
            // Go's small-gap rule: take the absent buckets in as empty.
            for _ in 0..gap {
                delta(0u64.wrapping_sub(prev) as i64);
                prev = 0;
            }
            length += gap as u32;
        } else {
            if started {
                span(offset, length);
            }
            debug_assert!(i32::try_from(gap).is_ok(), "bucket index out of i32");
            started = true;
            offset = gap as i32;
            length = 0;
        }
        delta(count.wrapping_sub(prev) as i64);
        prev = count;
        length += 1;
        next = this + 1;
    }
    if started {
        span(offset, length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 generator: deterministic, no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A positive normal `f64` of any magnitude: a uniform exponent
        /// field in `1..=2046` and a uniform mantissa.
        fn normal(&mut self) -> f64 {
            let field = 1 + self.next() % 2046;
            f64::from_bits((field << 52) | (self.next() & MANTISSA_MASK))
        }

        /// A positive subnormal `f64`.
        fn subnormal(&mut self) -> f64 {
            let bits = (self.next() & MANTISSA_MASK) >> (self.next() % 52);
            f64::from_bits(bits.max(1))
        }
    }

    fn next_up(x: f64) -> f64 {
        assert!((0.0..f64::MAX).contains(&x));
        f64::from_bits(x.to_bits() + 1)
    }

    fn next_down(x: f64) -> f64 {
        assert!(x > 0.0 && x.is_finite());
        f64::from_bits(x.to_bits() - 1)
    }

    fn all_schemas() -> impl Iterator<Item = i8> {
        MIN_SCHEMA..=MAX_SCHEMA
    }

    /// client_golang's `observe` key computation, transliterated: `Frexp`,
    /// then `sort.SearchFloat64s` over the schema's own table (built here
    /// as a `Vec` per schema), or the exponent shift.
    struct GoReference {
        tables: Vec<Vec<f64>>,
    }

    impl GoReference {
        fn new() -> GoReference {
            let tables = (0..=MAX_SCHEMA)
                .map(|s| {
                    (0..1usize << s)
                        .map(|j| BOUNDS_8[j << (MAX_SCHEMA - s)])
                        .collect()
                })
                .collect();
            GoReference { tables }
        }

        fn key(&self, v: f64, schema: i8) -> i32 {
            let (v, is_inf) = if v.is_infinite() {
                (f64::MAX.copysign(v), true)
            } else {
                (v, false)
            };
            let (frac, exp) = frexp(v.abs());
            let mut key = if schema > 0 {
                let bounds = &self.tables[schema as usize];
                // sort.SearchFloat64s: the first i with bounds[i] >= frac.
                bounds.partition_point(|&b| b < frac) as i32 + (exp - 1) * bounds.len() as i32
            } else {
                let mut key = exp;
                if frac == 0.5 {
                    key -= 1;
                }
                let offset = (1 << -schema) - 1;
                (key + offset) >> -schema
            };
            if is_inf {
                key += 1;
            }
            key
        }
    }

    #[test]
    fn schema_tables_are_go_literals() {
        // client_golang's nativeHistogramBounds[1..=4] (schema 4: its
        // first and last four), which must be every 2^(8-s)-th schema-8
        // bound.
        let go: &[(i8, &[(usize, f64)])] = &[
            (1, &[(0, 0.5), (1, 0.7071067811865475)]),
            (
                2,
                &[
                    (0, 0.5),
                    (1, 0.5946035575013605),
                    (2, 0.7071067811865475),
                    (3, 0.8408964152537144),
                ],
            ),
            (
                3,
                &[
                    (0, 0.5),
                    (1, 0.5452538663326288),
                    (2, 0.5946035575013605),
                    (3, 0.6484197773255048),
                    (4, 0.7071067811865475),
                    (5, 0.7711054127039704),
                    (6, 0.8408964152537144),
                    (7, 0.9170040432046711),
                ],
            ),
            (
                4,
                &[
                    (0, 0.5),
                    (1, 0.5221368912137069),
                    (2, 0.5452538663326288),
                    (3, 0.5693943173783458),
                    (12, 0.8408964152537144),
                    (13, 0.8781260801866495),
                    (14, 0.9170040432046711),
                    (15, 0.9576032806985735),
                ],
            ),
        ];
        for &(schema, entries) in go {
            for &(j, bound) in entries {
                assert_eq!(
                    BOUNDS_8[j << (8 - schema)],
                    bound,
                    "schema {schema} bound {j}"
                );
            }
        }
        // Not correctly rounded, and that matters: sqrt(0.5) is one ulp
        // below std's constant.
        assert_eq!(BOUNDS_8[128], next_down(std::f64::consts::FRAC_1_SQRT_2));
    }

    #[test]
    fn cells_agree_with_binary_search() {
        let reference = |m: u64| BOUNDS_8.partition_point(|&b| half_mantissa(b) < m) as i32;
        let check = |m: u64| assert_eq!(bounds_below(m), reference(m), "mantissa {m:#x}");
        for &b in &BOUNDS_8 {
            let m = half_mantissa(b);
            for d in 0..=3u64 {
                check(m.saturating_sub(d));
                check((m + d).min(MANTISSA_MASK));
            }
        }
        for c in 0..1u64 << CELL_BITS {
            let start = c << CELL_SHIFT;
            check(start);
            check(start + (1 << CELL_SHIFT) - 1);
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            check(rng.next() & MANTISSA_MASK);
        }
        assert_eq!(bounds_below(0), 0);
        assert_eq!(bounds_below(MANTISSA_MASK), 256);
    }

    #[test]
    fn frexp_splits_exactly() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(1024.0), (0.5, 11));
        assert_eq!(frexp(f64::MAX), (next_down(1.0), 1024));
        assert_eq!(frexp(f64::MIN_POSITIVE), (0.5, -1021));
        // Subnormals: the least, the greatest, one in between.
        assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
        assert_eq!(frexp(f64::from_bits(3)), (0.75, -1072));
        // The greatest: (2^52 - 1) · 2^-1074 = (1 - 2^-52) · 2^-1022.
        assert_eq!(
            frexp(next_down(f64::MIN_POSITIVE)),
            (1.0 - f64::EPSILON, -1022)
        );
        assert_eq!(frexp(-f64::from_bits(1)), (-0.5, -1073));
        // Go's special cases.
        assert_eq!(frexp(0.0), (0.0, 0));
        assert!(frexp(-0.0).0.is_sign_negative());
        assert_eq!(frexp(f64::INFINITY), (f64::INFINITY, 0));
        assert_eq!(frexp(f64::NEG_INFINITY), (f64::NEG_INFINITY, 0));
        let (nan, e) = frexp(f64::NAN);
        assert!(nan.is_nan() && e == 0);

        let mut rng = XorShift(7);
        for i in 0..100_000 {
            let x = if i % 4 == 0 {
                rng.subnormal()
            } else {
                rng.normal()
            };
            let x = if i % 3 == 0 { -x } else { x };
            let (f, e) = frexp(x);
            assert!((0.5..1.0).contains(&f.abs()), "{x:e}: frac {f}");
            // f · 2^e, in two exact steps (the last one exact as x is).
            let half = e / 2;
            let back = f * 2f64.powi(half) * 2f64.powi(e - half);
            assert_eq!(back, x, "{x:e} = {f} · 2^{e}");
            assert_eq!(ldexp(f, i64::from(e)), x);
        }
    }

    #[test]
    fn ldexp_rounds_once() {
        let least = f64::from_bits(1);
        assert_eq!(ldexp(1.0, 0), 1.0);
        assert_eq!(ldexp(1.0, 1023), 2f64.powi(1023));
        assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
        assert_eq!(ldexp(-0.5, 1025), f64::NEG_INFINITY);
        assert_eq!(ldexp(next_down(1.0), 1024), f64::MAX);
        assert_eq!(ldexp(1.0, -1022), f64::MIN_POSITIVE);
        assert_eq!(ldexp(1.0, -1074), least);
        assert_eq!(ldexp(1.0, -1075), 0.0); // a tie, to even
        assert_eq!(ldexp(next_up(1.0), -1075), least);
        assert_eq!(ldexp(0.75, -1073), 2.0 * least); // 1.5 ulps, to even
        assert_eq!(ldexp(0.625, -1072), 2.0 * least); // 2.5 ulps, to even
        assert_eq!(ldexp(1.0, -5000), 0.0);
        assert!(ldexp(-1.0, -5000).is_sign_negative());
        assert_eq!(ldexp(1.0, i64::MAX), f64::INFINITY);
        assert_eq!(ldexp(1.0, i64::MIN), 0.0);
        assert_eq!(ldexp(0.0, 10), 0.0);
        assert_eq!(ldexp(f64::INFINITY, -10), f64::INFINITY);
        assert_eq!(ldexp(f64::MIN_POSITIVE, 1), 2.0 * f64::MIN_POSITIVE);
        assert_eq!(ldexp(3.0 * least, 2), 12.0 * least);
    }

    #[test]
    fn bucket_index_known_values() {
        let cases: &[(i8, f64, i32)] = &[
            // client_golang's TestNativeHistogram, schema 3 (spans 0, 8, 13).
            (3, 1.0, 0),
            (3, 2.0, 8),
            (3, 3.0, 13),
            (3, 1.0001, 1),
            (3, 0.5, -8),
            // Schema 3's first bound above 1 (2 · 0.5452538663326288), on it
            // and one ulp above.
            (3, 1.0905077326652577, 1),
            (3, 1.090507732665258, 2),
            // Its schema-2 scenarios (including the widened zero bucket ones).
            (2, 1.0, 0),
            (2, 1.1, 1),
            (2, 1.2, 2),
            (2, 1.4, 2),
            (2, 1.8, 4),
            (2, 2.0, 4),
            (2, 3.0, 7),
            (2, 4.0, 8),
            (2, -1.2, 2),
            (2, -2.0, 4),
            // Its schema -1 scenario: the comments there give the buckets.
            (-1, 0.0156251, -2),
            (-1, 0.0625, -2),
            (-1, 0.1, -1),
            (-1, 0.25, -1),
            (-1, 0.5, 0),
            (-1, 1.0, 0),
            (-1, 1.5, 1),
            (-1, 2.0, 1),
            (-1, 3.0, 1),
            (-1, 3.5, 1),
            (-1, 5.0, 2),
            (-1, 6.0, 2),
            (-1, 7.0, 2),
            (-1, 33.33, 3),
            // Its schema -2 scenario.
            (-2, 0.0156251, -1),
            (-2, 0.0625, -1),
            (-2, 0.1, 0),
            (-2, 0.25, 0),
            (-2, 0.5, 0),
            (-2, 1.0, 0),
            (-2, 1.5, 1),
            (-2, 7.0, 1),
            (-2, 16.0, 1),
            (-2, 16.000000000000004, 2),
            (-2, 33.33, 2),
            // Schema 1: Go's sqrt(2) bound is one ulp below std's SQRT_2,
            // which therefore lies in the next bucket.
            (1, 2.0 * 0.7071067811865475, 1),
            (1, std::f64::consts::SQRT_2, 2),
            (1, 2.0, 2),
            // ceil(log2(v) · 2^s) away from bounds.
            (0, 0.75, 0),
            (0, 3.0, 2),
            (0, 1024.0, 10),
            (0, 1025.0, 11),
            (4, 10.0, 54),
            (5, 100.0, 213),
            (6, 0.001, -637),
            (7, 1e6, 2552),
            (8, 1.5, 150),
            (8, 2.0, 256),
            (-3, 256.0, 1),
            (-3, 257.0, 2),
            (-4, 65536.0, 1),
            (-4, 65537.0, 2),
            (-4, 1.0 / 65536.0, -1),
            (-4, 1.0000001 / 65536.0, 0),
        ];
        for &(schema, v, want) in cases {
            assert_eq!(
                bucket_index(v, schema),
                want,
                "bucket_index({v:e}, {schema})"
            );
        }
    }

    #[test]
    fn bucket_index_every_schema() {
        for s in all_schemas() {
            let per_octave = if s >= 0 { 1i32 << s } else { 0 };
            assert_eq!(bucket_index(1.0, s), 0, "schema {s}");
            assert_eq!(bucket_index(-1.0, s), 0, "schema {s}");
            assert_eq!(bucket_index(next_up(1.0), s), 1, "schema {s}");
            if s >= 0 {
                assert_eq!(bucket_index(2.0, s), per_octave, "schema {s}");
                assert_eq!(bucket_index(4.0, s), 2 * per_octave, "schema {s}");
                assert_eq!(bucket_index(0.5, s), -per_octave, "schema {s}");
                assert_eq!(bucket_index(next_up(0.5), s), 1 - per_octave, "schema {s}");
            } else {
                // 2^(2^-s) is bucket 1's bound, 1/2 and 2 inside buckets 0, 1.
                let width = 1i64 << -s;
                assert_eq!(bucket_index(ldexp(1.0, width), s), 1, "schema {s}");
                assert_eq!(bucket_index(next_up(ldexp(1.0, width)), s), 2, "schema {s}");
                assert_eq!(bucket_index(2.0, s), 1, "schema {s}");
                assert_eq!(bucket_index(0.5, s), 0, "schema {s}");
                assert_eq!(bucket_index(ldexp(1.0, -width), s), -1, "schema {s}");
            }
            // Every bound in [1, 2) for s > 0, and around it.
            if s > 0 {
                for j in 1..=per_octave {
                    let bound = bucket_upper_bound(j, s);
                    assert_eq!(bucket_index(bound, s), j, "schema {s} bound {j}");
                    assert_eq!(bucket_index(next_down(bound), s), j, "schema {s} below {j}");
                    assert_eq!(
                        bucket_index(next_up(bound), s),
                        j + 1,
                        "schema {s} above {j}"
                    );
                    assert_eq!(bucket_index(-bound, s), j, "schema {s} bound -{j}");
                }
            }
        }
    }

    #[test]
    fn bucket_index_matches_go_reference() {
        let go = GoReference::new();
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for i in 0..100_000 {
            let v = match i % 8 {
                0 => rng.subnormal(),
                1 => -rng.normal(),
                // On a bound and one ulp either side.
                2..=4 => {
                    let s = (rng.next() % 9) as i8;
                    let b = bucket_upper_bound(bucket_index(rng.normal(), s), s);
                    match i % 8 {
                        2 => b,
                        3 => next_down(b),
                        _ if b < f64::MAX => next_up(b),
                        _ => b,
                    }
                }
                _ => rng.normal(),
            };
            for s in all_schemas() {
                assert_eq!(bucket_index(v, s), go.key(v, s), "bucket_index({v:e}, {s})");
            }
        }
        for v in [
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1.0,
        ] {
            for s in all_schemas() {
                assert_eq!(bucket_index(v, s), go.key(v, s), "bucket_index({v:e}, {s})");
            }
        }
    }

    #[test]
    fn bucket_index_subnormals() {
        let least = f64::from_bits(1);
        assert_eq!(bucket_index(least, 8), -1074 * 256);
        assert_eq!(bucket_index(least, 3), -1074 * 8);
        assert_eq!(bucket_index(least, 0), -1074);
        assert_eq!(bucket_index(least, -1), -537);
        assert_eq!(bucket_index(least, -4), -67); // ceil(-1074 / 16)
        assert_eq!(bucket_index(-least, -4), -67);
        assert_eq!(bucket_index(f64::from_bits(3), 0), -1072);
        assert_eq!(bucket_index(f64::MIN_POSITIVE, 0), -1022);
        assert_eq!(bucket_index(f64::MIN_POSITIVE, 8), -1022 * 256);
        assert_eq!(bucket_index(next_down(f64::MIN_POSITIVE), 0), -1022);
        assert_eq!(bucket_index(next_down(f64::MIN_POSITIVE), 8), -1022 * 256);

        // Bounds in the subnormal range are rounded (once), so they may
        // equal the value on either side; they never cross it.
        let mut rng = XorShift(99);
        for _ in 0..50_000 {
            let v = rng.subnormal();
            for s in all_schemas() {
                let i = bucket_index(v, s);
                let (lower, upper) = (bucket_upper_bound(i - 1, s), bucket_upper_bound(i, s));
                assert!(
                    lower <= v && v <= upper,
                    "{v:e} at {s}: ({lower:e}, {upper:e}]"
                );
            }
        }
    }

    #[test]
    fn bucket_index_extremes() {
        let go_max = [(-4, 64), (-1, 512), (0, 1024), (2, 4096), (8, 262_144)];
        for (s, want) in go_max {
            assert_eq!(bucket_index(f64::MAX, s), want, "schema {s}");
            assert_eq!(bucket_index(-f64::MAX, s), want, "schema {s}");
        }
        for s in all_schemas() {
            let max = bucket_index(f64::MAX, s);
            assert_eq!(bucket_index(f64::INFINITY, s), max + 1, "schema {s}");
            assert_eq!(bucket_index(f64::NEG_INFINITY, s), max + 1, "schema {s}");
            assert_eq!(bucket_index(f64::NAN, s), max + 1, "schema {s}");
            assert_eq!(bucket_upper_bound(max, s), f64::MAX, "schema {s}");
            assert_eq!(bucket_upper_bound(max + 1, s), f64::INFINITY, "schema {s}");
            assert!(bucket_upper_bound(max - 1, s) < f64::MAX, "schema {s}");
            assert_eq!(bucket_index(bucket_upper_bound(max - 1, s), s), max - 1);
            assert_eq!(
                bucket_index(next_up(bucket_upper_bound(max - 1, s)), s),
                max
            );
        }
    }

    #[test]
    fn bucket_upper_bound_matches_go_get_le() {
        // client_golang's TestGetLe.
        let cases: &[(i32, i8, f64)] = &[
            (-1, -1, 0.25),
            (0, -1, 1.0),
            (1, -1, 4.0),
            (512, -1, f64::MAX),
            (513, -1, f64::INFINITY),
            (-1, 0, 0.5),
            (0, 0, 1.0),
            (1, 0, 2.0),
            (1024, 0, f64::MAX),
            (1025, 0, f64::INFINITY),
            (-1, 2, 0.8408964152537144),
            (0, 2, 1.0),
            (1, 2, 1.189207115002721),
            (4096, 2, f64::MAX),
            (4097, 2, f64::INFINITY),
        ];
        for &(index, schema, want) in cases {
            assert_eq!(
                bucket_upper_bound(index, schema),
                want,
                "index {index}, schema {schema}"
            );
        }
        // Far outside the float range.
        assert_eq!(bucket_upper_bound(i32::MAX, -4), f64::INFINITY);
        assert_eq!(bucket_upper_bound(i32::MIN, -4), 0.0);
        assert_eq!(bucket_upper_bound(i32::MIN, 8), 0.0);
        assert_eq!(bucket_upper_bound(-1074 * 256, 8), f64::from_bits(1));
    }

    #[test]
    fn bucket_bounds_bracket_random_values() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for _ in 0..200_000 {
            let v = rng.normal();
            for s in all_schemas() {
                let i = bucket_index(v, s);
                let lower = bucket_upper_bound(i - 1, s);
                let upper = bucket_upper_bound(i, s);
                // Exact in the normal range; a subnormal lower bound is
                // rounded and may round up to v's own binade floor.
                let above_lower = if lower >= f64::MIN_POSITIVE {
                    lower < v
                } else {
                    lower <= v
                };
                assert!(
                    above_lower && v <= upper,
                    "{v:e} at {s}: bucket {i} = ({lower:e}, {upper:e}]"
                );
                assert_eq!(bucket_index(-v, s), i);
                if upper.is_finite() && upper >= f64::MIN_POSITIVE {
                    assert_eq!(bucket_index(upper, s), i, "upper bound of {i} at {s}");
                }
                if upper < f64::MAX {
                    assert_eq!(bucket_index(next_up(upper), s), i + 1, "above {i} at {s}");
                }
            }
        }
    }

    #[test]
    fn coarser_schemas_nest() {
        // Bucket i at schema s - 1 is buckets 2i - 1 and 2i at schema s.
        let mut rng = XorShift(5);
        for i in 0..100_000 {
            let v = if i % 5 == 0 {
                rng.subnormal()
            } else {
                rng.normal()
            };
            for s in MIN_SCHEMA + 1..=MAX_SCHEMA {
                let fine = bucket_index(v, s);
                assert_eq!(bucket_index(v, s - 1), (fine + 1) >> 1, "{v:e} at {s}");
            }
        }
    }

    #[test]
    fn relative_error_bounds_per_schema() {
        for s in all_schemas() {
            let exact = 2f64.powf(2f64.powi(-i32::from(s)));
            assert!(
                (max_relative_error(s) + 1.0) / exact - 1.0 < 1e-15,
                "schema {s}"
            );
        }
        assert_eq!(max_relative_error(0), 1.0);
        assert_eq!(max_relative_error(-4), 65535.0);
        assert!((max_relative_error(3) - 0.090_507_732_665_257_66).abs() < 1e-15);
        assert!((max_relative_error(8) - 0.002_711_275_050_202_485).abs() < 1e-15);
    }

    /// `spans_and_deltas` into vectors.
    fn encode(first_index: i32, counts: &[u64]) -> (Vec<(i32, u32)>, Vec<i64>) {
        let (mut spans, mut deltas) = (Vec::new(), Vec::new());
        spans_and_deltas(
            first_index,
            counts,
            |o, l| spans.push((o, l)),
            |d| deltas.push(d),
        );
        (spans, deltas)
    }

    #[test]
    fn spans_all_empty() {
        assert_eq!(encode(0, &[]), (vec![], vec![]));
        assert_eq!(encode(-7, &[0, 0, 0, 0]), (vec![], vec![]));
    }

    #[test]
    fn spans_match_go_examples() {
        // client_golang's TestNativeHistogram: schema 3, observations 1, 2, 3.
        let mut counts = [0u64; 14];
        counts[0] = 1;
        counts[8] = 1;
        counts[13] = 1;
        assert_eq!(
            encode(0, &counts),
            (vec![(0, 1), (7, 1), (4, 1)], vec![1, 0, 0])
        );
        // Schema 2: 1, 1.2, 1.4, 1.8, 2 (a bridged gap of 1, twice).
        assert_eq!(
            encode(0, &[1, 0, 2, 0, 2]),
            (vec![(0, 5)], vec![1, -1, 2, -2, 2])
        );
        // Schema -1 and -2: negative first offsets.
        assert_eq!(
            encode(-2, &[2, 2, 2, 4, 3, 1]),
            (vec![(-2, 6)], vec![2, 0, 0, 2, -1, -2])
        );
        assert_eq!(
            encode(-1, &[2, 4, 7, 1]),
            (vec![(-1, 4)], vec![2, 2, 3, -6])
        );
        // "buckets limited by widening the zero bucket": gaps of 1 and 2.
        assert_eq!(
            encode(1, &[1, 2, 0, 2, 0, 0, 1]),
            (vec![(1, 7)], vec![1, 1, -2, 2, -2, 0, 1])
        );
        // "... twice".
        assert_eq!(
            encode(2, &[2, 0, 2, 0, 0, 1, 1]),
            (vec![(2, 7)], vec![2, -2, 2, -2, 0, 1, 0])
        );
        // "+Inf observation" at schema 2: buckets 0..5 and 4097.
        let mut counts = vec![0u64; 4098];
        counts[..5].copy_from_slice(&[1, 0, 2, 0, 2]);
        counts[4097] = 1;
        assert_eq!(
            encode(0, &counts),
            (vec![(0, 5), (4092, 1)], vec![1, -1, 2, -2, 2, -1])
        );
    }

    #[test]
    fn spans_bridge_gaps_of_one_and_two() {
        assert_eq!(encode(10, &[3, 0, 5]), (vec![(10, 3)], vec![3, -3, 5]));
        assert_eq!(
            encode(10, &[3, 0, 0, 5]),
            (vec![(10, 4)], vec![3, -3, 0, 5])
        );
        assert_eq!(
            encode(0, &[1, 0, 1, 0, 0, 1]),
            (vec![(0, 6)], vec![1, -1, 1, -1, 0, 1])
        );
    }

    #[test]
    fn spans_split_on_gap_of_three() {
        assert_eq!(
            encode(10, &[3, 0, 0, 0, 5]),
            (vec![(10, 1), (3, 1)], vec![3, 2])
        );
        assert_eq!(
            encode(0, &[1, 1, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 1]),
            (vec![(0, 2), (5, 3), (3, 1)], vec![1, 0, 1, -2, 2, -1])
        );
    }

    #[test]
    fn spans_skip_leading_and_trailing_empties() {
        // Leading empties move the first offset; it stays absolute.
        assert_eq!(encode(-5, &[0, 0, 0, 4, 0, 0, 0]), (vec![(-2, 1)], vec![4]));
        assert_eq!(encode(-3, &[0, 0, 0, 9]), (vec![(0, 1)], vec![9]));
        assert_eq!(encode(0, &[0, 7]), (vec![(1, 1)], vec![7]));
        // A first bucket within two of index 0 still opens its own span.
        assert_eq!(encode(2, &[1]), (vec![(2, 1)], vec![1]));
    }

    #[test]
    fn spans_deltas_cover_large_counts() {
        let big = u64::MAX / 2;
        assert_eq!(
            encode(0, &[big, 1]),
            (vec![(0, 2)], vec![big as i64, 1 - big as i64])
        );
    }
}
