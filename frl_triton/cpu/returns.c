/* Fused CPU reverse scans of frl.returns: GAE, TD(lambda) and V-trace, in one pass over memory.
 *
 * Plain C (no torch headers): frl_triton/cpu/build.py compiles this file on first use with the
 * system C compiler and calls the three entry points below through ctypes, on tensor data pointers.
 *
 * Every op solves a reverse linear recurrence over time,
 *
 *     A_t = x_t + c_t * A_{t+1},      A_T = 0,
 *
 * where x_t and c_t are elementwise functions of the op's inputs. Every tensor is seen as a strided
 * [T, N] matrix: element (t, n) sits at p[t * st + n * sn] (strides in elements). Two loop orders:
 *
 *   rows     every tensor has st == 1 (batch-major, TorchRL's [*B, T, 1]). With AVX-512 or AVX2
 *            (FRL_VEC): one row at a time, from its end, a vector of VW steps at a time (16 / 8
 *            floats, 8 / 4 doubles): x and c, a log-step scan inside the vector, the outputs, all
 *            in registers (see "The vector rows loop"). Otherwise (portable C): TILE rows are scanned
 *            together, CHUNK steps at a time from the end. Per chunk, (1) x and c of each row are
 *            formed along its contiguous time axis (vectorized), (2) the TILE rows are scanned
 *            interleaved (TILE independent dependency chains, so the scan runs at the CPU's
 *            throughput, not at its FMA latency), (3) outputs are written along time (vectorized).
 *            A tile's scratch stays in L1 or L2.
 *   columns  every tensor has sn == 1 (time-major [T, *B]): for each t, a block of COLS columns is
 *            updated at once (vectorized across columns).
 * The caller (frl_triton/cpu/scan.py) copies any input of another layout into the outputs' one; an
 * entry point given a mix returns -1. (A strided loop for any layout would cost compile time, on
 * the first call, for a case the callers never need to be fast.)
 *
 * gamma and lambda are either tensors or NULL, in which case a scalar from `scalars` is used.
 * Flags (done, terminated) are 1-byte bools. The body below the guard is instantiated for float or
 * double by including this file again with REAL defined (one library per dtype, see FRL_F32).
 */

#ifndef REAL

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int64_t i64;
typedef uint8_t u8;

/* Portable rows loop tile: TILE rows x CHUNK_BYTES of each row's inputs. Measured over 4-32 rows x 512-4096
 * bytes at 4096 x 256 and 4096 x 1024 float32: 8 x 2048 is among the best at both (long runs of
 * each row matter more than the scratch fitting L1; 4 x 4096 wins at T = 1024 only). The
 * elementwise loops carry `#pragma GCC ivdep`: outputs are fresh tensors that never overlap the
 * inputs, and without it gcc needs more run-time alias checks than it allows and does not vectorize. */
#ifndef TILE
#define TILE 8
#endif
#ifndef CHUNK_BYTES
#define CHUNK_BYTES 2048
#endif
#define COLS 512
#define RESTRICT __restrict__
#define INLINE static inline __attribute__((always_inline))

/* A tensor as a [T, N] matrix. */
typedef struct {
    const void *p;
    i64 st, sn;
} View;

/* exp for float, branch-free so that loops over it vectorize (libm's expf is a call per element).
 * Cody-Waite range reduction x = k ln2 + r, |r| <= ln2 / 2, and Cephes' degree-6 polynomial for
 * e^r: about 1 ulp. Out of range: 0 below, inf above; NaN stays NaN. */
INLINE float exp_f32(float x) {
    float xc = x > 88.7228f ? 88.7228f : (x < -87.3365f ? -87.3365f : x);
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = xc - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^k as 2^h 2^(k-h), h = k/2: each factor stays a normal float for every k in [-126, 128]. */
    int32_t ki = (int32_t)k, h = ki / 2;
    int32_t b1 = (h + 127) << 23, b2 = (ki - h + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = p * s1 * s2;
    y = x > 88.7228f ? INFINITY : y;
    return x < -87.3365f ? 0.0f : y;
}

INLINE double exp_f64(double x) { return exp(x); }

INLINE i64 min64(i64 a, i64 b) { return a < b ? a : b; }

/* Loop order for a set of views: 0 rows, 1 columns, -1 neither. */
static int layout(const View *v, int n) {
    int rows = 1, cols = 1;
    for (int i = 0; i < n; i++) {
        if (v[i].p == NULL) continue;
        rows &= v[i].st == 1;
        cols &= v[i].sn == 1;
    }
    return rows ? 0 : (cols ? 1 : -1);
}

static void views(View *v, void *const *ptrs, const i64 *strides, int n) {
    for (int i = 0; i < n; i++) {
        v[i].p = ptrs[i];
        v[i].st = strides[2 * i];
        v[i].sn = strides[2 * i + 1];
    }
}

/* Entry points frl_<op>_f32 (built with -DFRL_F32) and frl_<op>_f64 (-DFRL_F64), defined at the end
 * of the body. Tensors, in order (NULL where a scalar is used):
 *   gae:       reward, value, next_value, done, terminated, gamma, lmbda, advantage, value_target
 *              scalars: gamma, lmbda
 *   td_lambda: reward, next_value, done, terminated, gamma, lmbda, returns
 *              scalars: gamma, lmbda
 *   vtrace:    reward, value, next_value, log_rho, done, terminated, gamma, vs, pg
 *              scalars: gamma, rho_bar, c_bar
 * Return 0, or -1 if the strides fit neither loop order. */

/* One library per dtype (FRL_F32 or FRL_F64), so a first call compiles only the code it runs. */
#if defined(FRL_F32) && defined(FRL_F64)
#error "build one dtype per library"
#endif
/* The vector rows loop (see "The vector rows loop" below) where the compiler targets AVX-512F or
 * AVX2 with FMA, i.e. with -march=native on such a CPU: FRL_VEC is 512 or 256, the vector's width in
 * bits. Otherwise (the generic -O3 build, another ISA) FRL_VEC is 0 and the portable loop runs.
 * -DFRL_NO_VEC forces the portable loop and -mno-avx512f the AVX2 one (the tests build all three). */
#if defined(__AVX512F__) && !defined(FRL_NO_VEC)
#define FRL_VEC 512
#elif defined(__AVX2__) && defined(__FMA__) && !defined(FRL_NO_VEC)
#define FRL_VEC 256
#else
#define FRL_VEC 0
#endif
#if FRL_VEC
#include <immintrin.h>
#endif

/* Per dtype and ISA, the vector rows loop needs:
 *   VW lanes, VEC the vector type, MASK a set of lanes (a k-mask with AVX-512, a vector of all-ones
 *   or zero lanes with AVX2), LANES(L) the first L lanes, LAST(L) lane L-1 only, NONE, MANDN(a, b)
 *   a and not b, MOR; VLOAD(m, L, p) loads lanes m = LANES(L) (others 0, never reading past them),
 *   VSTORE(p, m, L, x) stores them, VSTREAM(p, x) a non-temporal store of a whole vector (p aligned to sizeof(VEC));
 *   VMUL_Z(m, a, b) a * b in lanes m, 0 elsewhere; VBLEND(m, a, b) b in lanes m, a elsewhere;
 *   VMIN(a, b) min, b when either is NaN (as vminps); VSHIFT(x, fill, s) lanes t <- x_{t+s}, the top s
 *   lanes from fill's first s; VFIRST(x) lane 0 in every lane; FLAG_MASK(p, L) the lanes whose flag
 *   byte p[t] is nonzero, reading only p[0..L); VEXP(p, m, L) e^p[t] in the first L lanes. */
#if FRL_VEC == 512
#define MANDN(a, b) ((a) & (MASK)~(b))
#define MOR(a, b) ((a) | (b))
#define NONE 0
/* exp_f32 on 16 lanes: the same steps (the same results up to FMA contraction), with the scaling by
 * 2^k done by vscalefps. */
INLINE __m512 exp_f32x16(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.7228f), lo = _mm512_set1_ps(-87.3365f);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    /* max/min return their second operand when either is NaN: NaN stays NaN */
    __m512 xc = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
    __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), magic), magic);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fmadd_ps(k, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, k); /* p 2^k in one instruction (k is an integer) */
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), y, _mm512_set1_ps(INFINITY));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), y, _mm512_setzero_ps());
}
/* n <= 16 flag bytes as 16 bytes, the rest 0 */
INLINE __m128i flag_bytes(const u8 *p, int L, int n) {
    if (L == n && n == 16) return _mm_loadu_si128((const __m128i *)p);
    if (L == n && n == 8) return _mm_loadl_epi64((const __m128i *)p);
    u8 buf[16] = {0};
    memcpy(buf, p, (size_t)L);
    return _mm_loadu_si128((const __m128i *)buf);
}
INLINE __mmask16 flag_mask16(const u8 *p, int L) {
    __m128i b = flag_bytes(p, L, 16);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm_test_epi8_mask(b, b); /* no widening shuffle */
#else
    __m512i w = _mm512_cvtepu8_epi32(b);
    return _mm512_test_epi32_mask(w, w);
#endif
}
INLINE __mmask8 flag_mask8(const u8 *p, int L) {
    __m128i b = flag_bytes(p, L, 8);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return (__mmask8)_mm_test_epi8_mask(b, b); /* bytes 8-15 are zero */
#else
    __m512i w = _mm512_cvtepu8_epi64(b);
    return _mm512_test_epi64_mask(w, w);
#endif
}
INLINE __m512 vexp_f32(const float *p, __mmask16 m, int L) {
    (void)L;
    return exp_f32x16(_mm512_maskz_loadu_ps(m, p));
}
/* exp for 8 doubles: x = k ln2 + r (Cody-Waite, Cephes' split of ln2), |r| <= ln2 / 2, e^r by its
 * Taylor polynomial to degree 12 (truncation below 2e-16 relative), times 2^k by vscalefpd (which
 * also gives the subnormal results torch's exp gives below -708). Overflow to inf above 709.78, 0
 * below -745.2; NaN stays NaN. */
INLINE __m512d exp_f64x8(__m512d x) {
    const __m512d hi = _mm512_set1_pd(709.782712893384), lo = _mm512_set1_pd(-745.2);
    __m512d xc = _mm512_min_pd(hi, _mm512_max_pd(lo, x)); /* NaN stays NaN */
    __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(xc, _mm512_set1_pd(1.4426950408889634)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(6.93145751953125e-1), xc);
    r = _mm512_fnmadd_pd(k, _mm512_set1_pd(1.42860682030941723212e-6), r);
    /* 1 / n! for n = 12 .. 0 */
    static const double inv_fact[13] = {2.08767569878680989792e-9, 2.50521083854417187751e-8,
        2.75573192239858906526e-7, 2.75573192239858906526e-6, 2.48015873015873015873e-5,
        1.98412698412698412698e-4, 1.38888888888888888889e-3, 8.33333333333333333333e-3,
        4.16666666666666666667e-2, 1.66666666666666666667e-1, 0.5, 1.0, 1.0};
    __m512d p = _mm512_set1_pd(inv_fact[0]);
    for (int i = 1; i < 13; i++) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(inv_fact[i]));
    __m512d y = _mm512_scalef_pd(p, k);
    y = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, hi, _CMP_GT_OQ), y, _mm512_set1_pd(INFINITY));
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, lo, _CMP_LT_OQ), y, _mm512_setzero_pd());
}
INLINE __m512d vexp_f64(const double *p, __mmask8 m, int L) {
    (void)L;
    return exp_f64x8(_mm512_maskz_loadu_pd(m, p));
}
#elif FRL_VEC == 256
#define MANDN(a, b) VAND_NOT(a, b)
#define NONE VSET1(0)
/* exp_f32 on 8 lanes: the same steps, 2^k as two factors as in exp_f32. */
INLINE __m256 exp_f32x8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x)); /* NaN stays NaN */
    __m256 k = _mm256_sub_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic), magic);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fmadd_ps(k, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i ki = _mm256_cvtps_epi32(k), h = _mm256_srai_epi32(ki, 1), bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ki, h), bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
}
/* n <= 8 flag bytes (n = 8 or 4) widened to n lanes of 32 or 64 bits, all ones where nonzero */
INLINE __m256i flag_lanes(const u8 *p, int L, int n) {
    __m128i b;
    if (L == n) {
        int32_t w4;
        memcpy(&w4, p, 4);
        b = n == 8 ? _mm_loadl_epi64((const __m128i *)p) : _mm_cvtsi32_si128(w4);
    } else {
        u8 buf[8] = {0};
        memcpy(buf, p, (size_t)L);
        b = _mm_loadl_epi64((const __m128i *)buf);
    }
    __m256i w = n == 8 ? _mm256_cvtepu8_epi32(b) : _mm256_cvtepu8_epi64(b);
    return n == 8 ? _mm256_cmpgt_epi32(w, _mm256_setzero_si256()) : _mm256_cmpgt_epi64(w, _mm256_setzero_si256());
}
INLINE __m256 vexp_f32(const float *p, __m256 m, int L) {
    return exp_f32x8(L == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, _mm256_castps_si256(m)));
}
#endif

#ifdef FRL_F32
#define REAL float
#define SUF(name) name##_f32
#define EXP exp_f32
#define CHUNK (CHUNK_BYTES / 4)
#if FRL_VEC == 512
#define VW 16
#define VEC __m512
#define MASK __mmask16
#define LANES(L) ((MASK)((L) >= 16 ? 0xFFFF : (1u << (L)) - 1))
#define LAST(L) ((MASK)(1u << ((L) - 1)))
#define FLAG_MASK flag_mask16
#define VEXP vexp_f32
#define VSET1 _mm512_set1_ps
#define VLOADU _mm512_loadu_ps
#define VLOAD(m, L, p) _mm512_maskz_loadu_ps(m, p)
#define VSTORE(p, m, L, x) _mm512_mask_storeu_ps(p, m, x)
#define VSTREAM _mm512_stream_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VMUL_Z _mm512_maskz_mul_ps
#define VFMA _mm512_fmadd_ps
#define VBLEND _mm512_mask_blend_ps
#define VMIN _mm512_min_ps
#define VSHIFT(x, fill, s) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(fill), _mm512_castps_si512(x), s))
#define VFIRST(x) _mm512_broadcastss_ps(_mm512_castps512_ps128(x))
#elif FRL_VEC == 256
#define VW 8
#define VEC __m256
#define MASK __m256
#define LANES(L) _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(L), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define LAST(L) _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_set1_epi32((L) - 1), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define FLAG_MASK(p, L) _mm256_castsi256_ps(flag_lanes(p, L, 8))
#define VEXP vexp_f32
#define VAND_NOT(a, b) _mm256_andnot_ps(b, a)
#define MOR _mm256_or_ps
#define VSET1 _mm256_set1_ps
#define VLOADU _mm256_loadu_ps
/* masked only in a partial block: vmaskmov is slow on some CPUs (a store is microcoded on AMD's) */
#define VLOAD(m, L, p) ((L) == VW ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, _mm256_castps_si256(m)))
#define VSTORE(p, m, L, x) ((L) == VW ? _mm256_storeu_ps(p, x) : _mm256_maskstore_ps(p, _mm256_castps_si256(m), x))
#define VSTREAM _mm256_stream_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VMUL_Z(m, a, b) _mm256_and_ps(m, _mm256_mul_ps(a, b))
#define VFMA _mm256_fmadd_ps
#define VBLEND(m, a, b) _mm256_blendv_ps(a, b, m)
#define VMIN _mm256_min_ps
/* lanes from (x's high half, fill's low half), then a byte shift within each 128-bit half */
#define VSHIFT(x, fill, s) _mm256_castsi256_ps(_mm256_alignr_epi8(                                   \
    _mm256_castps_si256(_mm256_permute2f128_ps(x, fill, 0x21)), _mm256_castps_si256(x), 4 * (s)))
#define VFIRST(x) _mm256_broadcastss_ps(_mm256_castps256_ps128(x))
#endif
#include __FILE__
#undef REAL
#undef SUF
#undef EXP
#undef CHUNK
#endif

#ifdef FRL_F64
#define REAL double
#define SUF(name) name##_f64
#define EXP exp_f64
#define CHUNK (CHUNK_BYTES / 8)
#if FRL_VEC == 256
/* e^p[t] for the first L lanes (the others 1): libm, as the portable loop */
#define VEXP(p, m, L) SUF(vexp_libm)(p, L)
#endif
#if FRL_VEC == 512
#define VW 8
#define VEC __m512d
#define MASK __mmask8
#define LANES(L) ((MASK)((L) >= 8 ? 0xFF : (1u << (L)) - 1))
#define LAST(L) ((MASK)(1u << ((L) - 1)))
#define FLAG_MASK flag_mask8
#define VEXP vexp_f64
#define VSET1 _mm512_set1_pd
#define VLOADU _mm512_loadu_pd
#define VLOAD(m, L, p) _mm512_maskz_loadu_pd(m, p)
#define VSTORE(p, m, L, x) _mm512_mask_storeu_pd(p, m, x)
#define VSTREAM _mm512_stream_pd
#define VADD _mm512_add_pd
#define VSUB _mm512_sub_pd
#define VMUL _mm512_mul_pd
#define VMUL_Z _mm512_maskz_mul_pd
#define VFMA _mm512_fmadd_pd
#define VBLEND _mm512_mask_blend_pd
#define VMIN _mm512_min_pd
#define VSHIFT(x, fill, s) _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(fill), _mm512_castpd_si512(x), s))
#define VFIRST(x) _mm512_broadcastsd_pd(_mm512_castpd512_pd128(x))
#elif FRL_VEC == 256
#define VW 4
#define VEC __m256d
#define MASK __m256d
#define LANES(L) _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(L), _mm256_setr_epi64x(0, 1, 2, 3)))
#define LAST(L) _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_set1_epi64x((L) - 1), _mm256_setr_epi64x(0, 1, 2, 3)))
#define FLAG_MASK(p, L) _mm256_castsi256_pd(flag_lanes(p, L, 4))
#define VAND_NOT(a, b) _mm256_andnot_pd(b, a)
#define MOR _mm256_or_pd
#define VSET1 _mm256_set1_pd
#define VLOADU _mm256_loadu_pd
#define VLOAD(m, L, p) ((L) == VW ? _mm256_loadu_pd(p) : _mm256_maskload_pd(p, _mm256_castpd_si256(m)))
#define VSTORE(p, m, L, x) ((L) == VW ? _mm256_storeu_pd(p, x) : _mm256_maskstore_pd(p, _mm256_castpd_si256(m), x))
#define VSTREAM _mm256_stream_pd
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VMUL_Z(m, a, b) _mm256_and_pd(m, _mm256_mul_pd(a, b))
#define VFMA _mm256_fmadd_pd
#define VBLEND(m, a, b) _mm256_blendv_pd(a, b, m)
#define VMIN _mm256_min_pd
#define VSHIFT(x, fill, s) _mm256_castsi256_pd(_mm256_alignr_epi8(                                   \
    _mm256_castpd_si256(_mm256_permute2f128_pd(x, fill, 0x21)), _mm256_castpd_si256(x), 8 * (s)))
#define VFIRST(x) _mm256_broadcastsd_pd(_mm256_castpd256_pd128(x))
#endif
#include __FILE__
#endif

#else /* the body, compiled once per REAL */

/* Pointer to the start of row n (rows loop: time is contiguous) or of time step t (columns loop). */
#define ROW(view, type, n, t0) ((const type *)(view).p + (n) * (view).sn + (t0))
#define STEP(view, type, t) ((const type *)(view).p + (t) * (view).st)
#define OUT_ROW(view, n, t0) ((REAL *)(view).p + (n) * (view).sn + (t0))
#define OUT_STEP(view, t) ((REAL *)(view).p + (t) * (view).st)

/* Scan TILE (or fewer) rows of a chunk in place: X[i][j] <- X[i][j] + K[i][j] * X[i][j+1], entering
 * with carry[i] on the right. With a compile-time row count the inner loop is unrolled into
 * independent dependency chains. */
INLINE void SUF(scan_tile)(REAL (*RESTRICT X)[CHUNK + 1], REAL (*RESTRICT K)[CHUNK], REAL *RESTRICT carry,
                           int rows, int L) {
    if (rows == TILE) {
        REAL a[TILE];
        for (int i = 0; i < TILE; i++) a[i] = carry[i];
        for (int j = L - 1; j >= 0; j--)
            for (int i = 0; i < TILE; i++) {
                a[i] = X[i][j] + K[i][j] * a[i];
                X[i][j] = a[i];
            }
        for (int i = 0; i < TILE; i++) carry[i] = a[i];
    } else {
        for (int i = 0; i < rows; i++) {
            REAL a = carry[i];
            for (int j = L - 1; j >= 0; j--) {
                a = X[i][j] + K[i][j] * a;
                X[i][j] = a;
            }
            carry[i] = a;
        }
    }
}

#if FRL_VEC
/* The vector rows loop. A vector holds VW consecutive steps of one row (VW = 16 floats or 8 doubles
 * with AVX-512, 8 or 4 with AVX2), so inputs load and outputs store contiguously with no transpose,
 * and a row is read block by block from its end. Within a block the recurrence is solved by a log-step (Hillis-Steele) scan: each
 * step t holds the affine map a -> x_t + c_t a, and log2(VW) rounds compose it with the map s steps
 * later, (x_t, c_t) <- (x_t + c_t x_{t+s}, c_t c_{t+s}), lanes past the block composing with the
 * identity (0, 1). Lane t then holds A_t as a function of the carry A_{t+VW}: A_t = x_t + c_t carry.
 * Only that last FMA and the broadcast of lane 0 (the next block's carry) sit on the dependency
 * chain from block to block; the rounds before it do not depend on the carry, so the CPU overlaps
 * them across blocks. The sum is associated differently from the sequential loop (rounding-level
 * differences only). The loop is bound by the shuffles (valign, broadcast): on the AMD EPYC this was
 * measured on, GAE float32 on data in the cache takes about 0.38 ns per step with AVX-512 against 0.70 for the
 * portable loop built for AVX-512 (0.60 for the AVX2 loop, 1.5 for the portable loop built for
 * AVX2); scanning 2 or 4 rows interleaved measured no faster. Register transposes of 16 x 16 blocks
 * (scanning across rows) would need about as many shuffles per element. */
INLINE VEC SUF(vscan)(VEC x, VEC c, VEC *carry) {
    VEC zero = VSET1(0), one = VSET1(1);
    x = VFMA(c, VSHIFT(x, zero, 1), x);
    c = VMUL(c, VSHIFT(c, one, 1));
    x = VFMA(c, VSHIFT(x, zero, 2), x);
    c = VMUL(c, VSHIFT(c, one, 2));
#if VW > 4
    x = VFMA(c, VSHIFT(x, zero, 4), x);
    c = VMUL(c, VSHIFT(c, one, 4));
#endif
#if VW > 8
    x = VFMA(c, VSHIFT(x, zero, 8), x);
    c = VMUL(c, VSHIFT(c, one, 8));
#endif
    VEC a = VFMA(c, *carry, x);
    *carry = VFIRST(a);
    return a;
}

/* The lanes of a block of L <= VW steps (lanes past L are not loaded and not stored). In the rows
 * loops below, only a row's last block is partial: lanes past L load as x = c = 0, which is right
 * there since nothing enters from the right (A_T = 0). */
/* e^p[t] for the first L lanes (the others 1) with libm, for float64 with AVX2 (as the portable loop) */
INLINE VEC SUF(vexp_libm)(const REAL *p, int L) {
    REAL e[VW];
    for (int k = 0; k < VW; k++) e[k] = k < L ? EXP(p[k]) : (REAL)1;
    return VLOADU(e);
}

/* Store a block of outputs. Outputs of at least STREAM_BYTES in all are written with non-temporal
 * stores where a block is whole and aligned to a vector (every block of a row is when T steps fill
 * whole vectors, and torch aligns tensors to 64 bytes): they skip reading the destination's lines
 * into the cache before writing them, about a third of the memory traffic of GAE (4096 x 256 float32
 * went from 1.2 to 0.6 ms in a C harness), and results too large for the cache would leave it
 * anyway. Smaller outputs stay in the cache for the caller's next op. The op ends with a store
 * fence, so the results are visible to other threads once it returns. */
#ifndef STREAM_BYTES
#define STREAM_BYTES (4 << 20)
#endif
INLINE void SUF(store_out)(REAL *p, MASK m, int L, VEC x, int stream) {
    if (stream && L == VW && !((uintptr_t)p & (sizeof(VEC) - 1))) VSTREAM(p, x);
    else VSTORE(p, m, L, x);
}
#endif

/* --- GAE: x_t = r_t + gamma_t (1 - term_t) v'_t - v_t, c_t = gamma_t lambda_t (1 - done_t) -------- */

#if !FRL_VEC
static void SUF(gae_rows)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    REAL Gs[CHUNK], Ls[CHUNK]; /* the scalars, as rows to load like per-step tensors */
    for (int j = 0; j < CHUNK; j++) Gs[j] = gs, Ls[j] = ls;
    REAL X[TILE][CHUNK + 1], K[TILE][CHUNK];
    for (i64 n0 = 0; n0 < N; n0 += TILE) {
        int rows = (int)min64(TILE, N - n0);
        REAL carry[TILE] = {0};
        for (i64 end = T; end > 0; end -= CHUNK) {
            i64 t0 = end > CHUNK ? end - CHUNK : 0;
            int L = (int)(end - t0);
            for (int i = 0; i < rows; i++) {
                i64 n = n0 + i;
                const REAL *RESTRICT r = ROW(v[0], REAL, n, t0), *RESTRICT val = ROW(v[1], REAL, n, t0),
                           *RESTRICT nv = ROW(v[2], REAL, n, t0);
                const u8 *RESTRICT done = ROW(v[3], u8, n, t0), *RESTRICT term = ROW(v[4], u8, n, t0);
                const REAL *RESTRICT g = v[5].p ? ROW(v[5], REAL, n, t0) : Gs;
                const REAL *RESTRICT l = v[6].p ? ROW(v[6], REAL, n, t0) : Ls;
                REAL *RESTRICT x = X[i], *RESTRICT c = K[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) {
                    x[j] = r[j] + (term[j] ? (REAL)0 : g[j] * nv[j]) - val[j];
                    c[j] = done[j] ? (REAL)0 : g[j] * l[j];
                }
            }
            SUF(scan_tile)(X, K, carry, rows, L);
            for (int i = 0; i < rows; i++) {
                i64 n = n0 + i;
                const REAL *RESTRICT val = ROW(v[1], REAL, n, t0);
                REAL *RESTRICT adv = OUT_ROW(v[7], n, t0), *RESTRICT tgt = OUT_ROW(v[8], n, t0);
                const REAL *RESTRICT x = X[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) {
                    adv[j] = x[j];
                    tgt[j] = x[j] + val[j];
                }
            }
        }
    }
}
#endif

#if FRL_VEC
/* GAE's rows loop in one pass: x, c, the scan and both outputs per block of VW steps. */
static void SUF(gae_rows_vec)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    const VEC G = VSET1(gs), Lm = VSET1(ls);
    const int stream = 2 * T * N * (i64)sizeof(REAL) >= STREAM_BYTES;
    for (i64 n = 0; n < N; n++) {
        const REAL *RESTRICT r = ROW(v[0], REAL, n, 0), *RESTRICT val = ROW(v[1], REAL, n, 0),
                   *RESTRICT nv = ROW(v[2], REAL, n, 0);
        const u8 *RESTRICT done = ROW(v[3], u8, n, 0), *RESTRICT term = ROW(v[4], u8, n, 0);
        const REAL *RESTRICT g = v[5].p ? ROW(v[5], REAL, n, 0) : NULL;
        const REAL *RESTRICT l = v[6].p ? ROW(v[6], REAL, n, 0) : NULL;
        REAL *RESTRICT adv = OUT_ROW(v[7], n, 0), *RESTRICT tgt = OUT_ROW(v[8], n, 0);
        VEC carry = VSET1(0);
        for (i64 t = ((T - 1) / VW) * VW; t >= 0; t -= VW) {
            int L = (int)min64(VW, T - t);
            MASK m = LANES(L);
            VEC vv = VLOAD(m, L, val + t);
            VEC gv = g ? VLOAD(m, L, g + t) : G, lv = l ? VLOAD(m, L, l + t) : Lm;
            MASK dm = FLAG_MASK(done + t, L), tm = FLAG_MASK(term + t, L);
            VEC x = VSUB(VADD(VLOAD(m, L, r + t), VMUL_Z(MANDN(m, tm), gv, VLOAD(m, L, nv + t))), vv);
            VEC c = VMUL_Z(MANDN(m, dm), gv, lv);
            VEC a = SUF(vscan)(x, c, &carry);
            SUF(store_out)(adv + t, m, L, a, stream);
            SUF(store_out)(tgt + t, m, L, VADD(a, vv), stream);
        }
    }
    _mm_sfence();
}
#endif

/* The columns loop: every sn is 1, so loads and stores vectorize across columns. */
static void SUF(gae_cols)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    REAL Gs[COLS], Ls[COLS]; /* the scalars, as rows to load like per-step tensors */
    for (int j = 0; j < COLS; j++) Gs[j] = gs, Ls[j] = ls;
    REAL A[COLS];
    for (i64 n0 = 0; n0 < N; n0 += COLS) {
        int W = (int)min64(COLS, N - n0);
        for (int j = 0; j < W; j++) A[j] = 0;
        for (i64 t = T - 1; t >= 0; t--) {
            const REAL *RESTRICT r = STEP(v[0], REAL, t) + n0, *RESTRICT val = STEP(v[1], REAL, t) + n0,
                       *RESTRICT nv = STEP(v[2], REAL, t) + n0;
            const u8 *RESTRICT done = STEP(v[3], u8, t) + n0, *RESTRICT term = STEP(v[4], u8, t) + n0;
            const REAL *RESTRICT g = v[5].p ? STEP(v[5], REAL, t) + n0 : Gs;
            const REAL *RESTRICT l = v[6].p ? STEP(v[6], REAL, t) + n0 : Ls;
            REAL *RESTRICT adv = OUT_STEP(v[7], t) + n0, *RESTRICT tgt = OUT_STEP(v[8], t) + n0;
            #pragma GCC ivdep
            for (int j = 0; j < W; j++) {
                REAL gj = g[j], lj = l[j];
                REAL x = r[j] + (term[j] ? (REAL)0 : gj * nv[j]) - val[j];
                REAL a = x + (done[j] ? (REAL)0 : gj * lj) * A[j];
                A[j] = a;
                adv[j] = a;
                tgt[j] = a + val[j];
            }
        }
    }
}

static void SUF(gae)(i64 T, i64 N, const View *v, const double *scalars, int mode) {
    REAL gs = (REAL)scalars[0], ls = (REAL)scalars[1];
#if FRL_VEC
    if (mode == 0) SUF(gae_rows_vec)(T, N, v, gs, ls);
#else
    if (mode == 0) SUF(gae_rows)(T, N, v, gs, ls);
#endif
    else SUF(gae_cols)(T, N, v, gs, ls);
}

/* --- TD(lambda): with cut_t = done_t or t = T-1 and b_t = gamma_t (1 - term_t) v'_t,
 *     x_t = r_t + b_t (cut_t ? 1 : 1 - lambda_t), c_t = cut_t ? 0 : gamma_t lambda_t ---------------- */

#if !FRL_VEC
static void SUF(td_lambda_rows)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    REAL Gs[CHUNK], Ls[CHUNK]; /* the scalars, as rows to load like per-step tensors */
    for (int j = 0; j < CHUNK; j++) Gs[j] = gs, Ls[j] = ls;
    REAL X[TILE][CHUNK + 1], K[TILE][CHUNK];
    for (i64 n0 = 0; n0 < N; n0 += TILE) {
        int rows = (int)min64(TILE, N - n0);
        REAL carry[TILE] = {0};
        for (i64 end = T; end > 0; end -= CHUNK) {
            i64 t0 = end > CHUNK ? end - CHUNK : 0;
            int L = (int)(end - t0);
            int last = end == T ? L - 1 : -1; /* the chunk index of step T-1, if in this chunk */
            for (int i = 0; i < rows; i++) {
                i64 n = n0 + i;
                const REAL *RESTRICT r = ROW(v[0], REAL, n, t0), *RESTRICT nv = ROW(v[1], REAL, n, t0);
                const u8 *RESTRICT done = ROW(v[2], u8, n, t0), *RESTRICT term = ROW(v[3], u8, n, t0);
                const REAL *RESTRICT g = v[4].p ? ROW(v[4], REAL, n, t0) : Gs;
                const REAL *RESTRICT l = v[5].p ? ROW(v[5], REAL, n, t0) : Ls;
                REAL *RESTRICT x = X[i], *RESTRICT c = K[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) {
                    REAL b = term[j] ? (REAL)0 : g[j] * nv[j];
                    x[j] = r[j] + b * (done[j] ? (REAL)1 : 1 - l[j]);
                    c[j] = done[j] ? (REAL)0 : g[j] * l[j];
                }
                if (last >= 0) /* the sequence end bootstraps fully: x = r + b */
                    x[last] = r[last] + (term[last] ? (REAL)0 : g[last] * nv[last]);
            }
            SUF(scan_tile)(X, K, carry, rows, L);
            for (int i = 0; i < rows; i++) {
                REAL *RESTRICT out = OUT_ROW(v[6], n0 + i, t0);
                const REAL *RESTRICT x = X[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) out[j] = x[j];
            }
        }
    }
}
#endif

#if FRL_VEC
static void SUF(td_lambda_rows_vec)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    const VEC G = VSET1(gs), Lm = VSET1(ls), one = VSET1(1);
    const int stream = T * N * (i64)sizeof(REAL) >= STREAM_BYTES;
    for (i64 n = 0; n < N; n++) {
        const REAL *RESTRICT r = ROW(v[0], REAL, n, 0), *RESTRICT nv = ROW(v[1], REAL, n, 0);
        const u8 *RESTRICT done = ROW(v[2], u8, n, 0), *RESTRICT term = ROW(v[3], u8, n, 0);
        const REAL *RESTRICT g = v[4].p ? ROW(v[4], REAL, n, 0) : NULL;
        const REAL *RESTRICT l = v[5].p ? ROW(v[5], REAL, n, 0) : NULL;
        REAL *RESTRICT out = OUT_ROW(v[6], n, 0);
        VEC carry = VSET1(0);
        for (i64 t = ((T - 1) / VW) * VW; t >= 0; t -= VW) {
            int L = (int)min64(VW, T - t);
            MASK m = LANES(L);
            VEC gv = g ? VLOAD(m, L, g + t) : G, lv = l ? VLOAD(m, L, l + t) : Lm;
            MASK tm = FLAG_MASK(term + t, L);
            /* cut: done, or the sequence end (the last lane of the first block scanned) */
            MASK cut = MOR(FLAG_MASK(done + t, L), t + L == T ? LAST(L) : NONE);
            VEC b = VMUL_Z(MANDN(m, tm), gv, VLOAD(m, L, nv + t));
            VEC x = VFMA(b, VBLEND(cut, VSUB(one, lv), one), VLOAD(m, L, r + t));
            VEC c = VMUL_Z(MANDN(m, cut), gv, lv);
            SUF(store_out)(out + t, m, L, SUF(vscan)(x, c, &carry), stream);
        }
    }
    _mm_sfence();
}
#endif

static void SUF(td_lambda_cols)(i64 T, i64 N, const View *v, REAL gs, REAL ls) {
    REAL Gs[COLS], Ls[COLS]; /* the scalars, as rows to load like per-step tensors */
    for (int j = 0; j < COLS; j++) Gs[j] = gs, Ls[j] = ls;
    REAL A[COLS];
    for (i64 n0 = 0; n0 < N; n0 += COLS) {
        int W = (int)min64(COLS, N - n0);
        for (int j = 0; j < W; j++) A[j] = 0;
        for (i64 t = T - 1; t >= 0; t--) {
            const REAL *RESTRICT r = STEP(v[0], REAL, t) + n0, *RESTRICT nv = STEP(v[1], REAL, t) + n0;
            const u8 *RESTRICT done = STEP(v[2], u8, t) + n0, *RESTRICT term = STEP(v[3], u8, t) + n0;
            const REAL *RESTRICT g = v[4].p ? STEP(v[4], REAL, t) + n0 : Gs;
            const REAL *RESTRICT l = v[5].p ? STEP(v[5], REAL, t) + n0 : Ls;
            REAL *RESTRICT out = OUT_STEP(v[6], t) + n0;
            int end = t == T - 1; /* A_{t+1} is 0 here, so only x needs the cut */
            #pragma GCC ivdep
            for (int j = 0; j < W; j++) {
                REAL gj = g[j], lj = l[j];
                int cut = done[j] | end;
                REAL b = term[j] ? (REAL)0 : gj * nv[j];
                REAL a = r[j] + b * (cut ? (REAL)1 : 1 - lj) + (cut ? (REAL)0 : gj * lj) * A[j];
                A[j] = a;
                out[j] = a;
            }
        }
    }
}

static void SUF(td_lambda)(i64 T, i64 N, const View *v, const double *scalars, int mode) {
    REAL gs = (REAL)scalars[0], ls = (REAL)scalars[1];
#if FRL_VEC
    if (mode == 0) SUF(td_lambda_rows_vec)(T, N, v, gs, ls);
#else
    if (mode == 0) SUF(td_lambda_rows)(T, N, v, gs, ls);
#endif
    else SUF(td_lambda_cols)(T, N, v, gs, ls);
}

/* --- V-trace: rho_t = e^log_rho_t, d_t = gamma_t (1 - term_t),
 *     x_t = min(rho_bar, rho_t) (r_t + d_t v'_t - v_t), c_t = gamma_t (1 - done_t) min(c_bar, rho_t);
 *     vs_t = A_t + v_t, pg_t = min(rho_bar, rho_t) (r_t + d_t vs'_{t+1} - v_t) with vs'_{t+1} the
 *     next value at a done or at t = T-1, else vs_{t+1} ---------------------------------------------- */

#if FRL_VEC
/* V-trace's rows loop in one pass. vs_{t+1} for pg is the next lane of this block's vs, or for the
 * last lane the first of the block scanned before (to the right). */
static void SUF(vtrace_rows_vec)(i64 T, i64 N, const View *v, REAL gs, REAL rho_bar, REAL c_bar) {
    const VEC G = VSET1(gs), RB = VSET1(rho_bar), CB = VSET1(c_bar);
    const int stream = 2 * T * N * (i64)sizeof(REAL) >= STREAM_BYTES;
    for (i64 n = 0; n < N; n++) {
        const REAL *RESTRICT r = ROW(v[0], REAL, n, 0), *RESTRICT val = ROW(v[1], REAL, n, 0),
                   *RESTRICT nv = ROW(v[2], REAL, n, 0), *RESTRICT lr = ROW(v[3], REAL, n, 0);
        const u8 *RESTRICT done = ROW(v[4], u8, n, 0), *RESTRICT term = ROW(v[5], u8, n, 0);
        const REAL *RESTRICT g = v[6].p ? ROW(v[6], REAL, n, 0) : NULL;
        REAL *RESTRICT vs = OUT_ROW(v[7], n, 0), *RESTRICT pg = OUT_ROW(v[8], n, 0);
        VEC carry = VSET1(0), vs_right = VSET1(0);
        for (i64 t = ((T - 1) / VW) * VW; t >= 0; t -= VW) {
            int L = (int)min64(VW, T - t);
            MASK m = LANES(L);
            VEC gv = g ? VLOAD(m, L, g + t) : G;
            VEC rv = VLOAD(m, L, r + t), vv = VLOAD(m, L, val + t), nvv = VLOAD(m, L, nv + t);
            MASK dm = FLAG_MASK(done + t, L), keep = MANDN(m, FLAG_MASK(term + t, L));
            VEC rho = VEXP(lr + t, m, L);
            VEC rc = VMIN(RB, rho), cc = VMIN(CB, rho); /* NaN stays NaN, as in torch.clamp */
            VEC x = VMUL(rc, VSUB(VADD(rv, VMUL_Z(keep, gv, nvv)), vv));
            VEC c = VMUL_Z(MANDN(m, dm), gv, cc);
            VEC vsv = VADD(SUF(vscan)(x, c, &carry), vv);
            MASK cut = MOR(dm, t + L == T ? LAST(L) : NONE);
            VEC following = VBLEND(cut, VSHIFT(vsv, vs_right, 1), nvv);
            VEC pgv = VMUL(rc, VSUB(VADD(rv, VMUL_Z(keep, gv, following)), vv));
            vs_right = vsv;
            SUF(store_out)(vs + t, m, L, vsv, stream);
            SUF(store_out)(pg + t, m, L, pgv, stream);
        }
    }
    _mm_sfence();
}
#else
static void SUF(vtrace_rows)(i64 T, i64 N, const View *v, REAL gs, REAL rho_bar, REAL c_bar) {
    REAL Gs[CHUNK];
    for (int j = 0; j < CHUNK; j++) Gs[j] = gs;
    REAL X[TILE][CHUNK + 1], K[TILE][CHUNK], P[TILE][CHUNK];
    for (i64 n0 = 0; n0 < N; n0 += TILE) {
        int rows = (int)min64(TILE, N - n0);
        REAL carry[TILE] = {0}, vs_after[TILE] = {0}; /* vs_after: vs at the step right of the chunk */
        for (i64 end = T; end > 0; end -= CHUNK) {
            i64 t0 = end > CHUNK ? end - CHUNK : 0;
            int L = (int)(end - t0);
            for (int i = 0; i < rows; i++) {
                i64 n = n0 + i;
                const REAL *RESTRICT r = ROW(v[0], REAL, n, t0), *RESTRICT val = ROW(v[1], REAL, n, t0),
                           *RESTRICT nv = ROW(v[2], REAL, n, t0), *RESTRICT lr = ROW(v[3], REAL, n, t0);
                const u8 *RESTRICT done = ROW(v[4], u8, n, t0), *RESTRICT term = ROW(v[5], u8, n, t0);
                const REAL *RESTRICT g = v[6].p ? ROW(v[6], REAL, n, t0) : Gs;
                REAL *RESTRICT x = X[i], *RESTRICT c = K[i], *RESTRICT p = P[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) {
                    REAL gj = g[j];
                    REAL rho = EXP(lr[j]);
                    REAL rc = rho > rho_bar ? rho_bar : rho; /* NaN stays NaN, as in torch.clamp */
                    REAL cc = rho > c_bar ? c_bar : rho;
                    p[j] = rc;
                    x[j] = rc * (r[j] + (term[j] ? (REAL)0 : gj * nv[j]) - val[j]);
                    c[j] = done[j] ? (REAL)0 : gj * cc;
                }
            }
            SUF(scan_tile)(X, K, carry, rows, L);
            for (int i = 0; i < rows; i++) {
                i64 n = n0 + i;
                const REAL *RESTRICT r = ROW(v[0], REAL, n, t0), *RESTRICT val = ROW(v[1], REAL, n, t0),
                           *RESTRICT nv = ROW(v[2], REAL, n, t0);
                const u8 *RESTRICT done = ROW(v[4], u8, n, t0), *RESTRICT term = ROW(v[5], u8, n, t0);
                const REAL *RESTRICT g = v[6].p ? ROW(v[6], REAL, n, t0) : Gs;
                REAL *RESTRICT vs = OUT_ROW(v[7], n, t0), *RESTRICT pg = OUT_ROW(v[8], n, t0);
                REAL *RESTRICT x = X[i];
                const REAL *RESTRICT p = P[i];
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) x[j] += val[j];
                x[L] = vs_after[i]; /* unused at t = T-1, where the next value bootstraps */
                int last = end == T ? L - 1 : -1;
                #pragma GCC ivdep
                for (int j = 0; j < L; j++) {
                    REAL gj = g[j];
                    REAL following = (done[j] || j == last) ? nv[j] : x[j + 1];
                    vs[j] = x[j];
                    pg[j] = p[j] * (r[j] + (term[j] ? (REAL)0 : gj * following) - val[j]);
                }
                vs_after[i] = x[0];
            }
        }
    }
}
#endif

static void SUF(vtrace_cols)(i64 T, i64 N, const View *v, REAL gs, REAL rho_bar, REAL c_bar) {
    REAL Gs[COLS];
    for (int j = 0; j < COLS; j++) Gs[j] = gs;
    REAL A[COLS], VS[COLS];
    for (i64 n0 = 0; n0 < N; n0 += COLS) {
        int W = (int)min64(COLS, N - n0);
        for (int j = 0; j < W; j++) A[j] = VS[j] = 0;
        for (i64 t = T - 1; t >= 0; t--) {
            const REAL *RESTRICT r = STEP(v[0], REAL, t) + n0, *RESTRICT val = STEP(v[1], REAL, t) + n0,
                       *RESTRICT nv = STEP(v[2], REAL, t) + n0, *RESTRICT lr = STEP(v[3], REAL, t) + n0;
            const u8 *RESTRICT done = STEP(v[4], u8, t) + n0, *RESTRICT term = STEP(v[5], u8, t) + n0;
            const REAL *RESTRICT g = v[6].p ? STEP(v[6], REAL, t) + n0 : Gs;
            REAL *RESTRICT vs = OUT_STEP(v[7], t) + n0, *RESTRICT pg = OUT_STEP(v[8], t) + n0;
            int end = t == T - 1;
            #pragma GCC ivdep
            for (int j = 0; j < W; j++) {
                REAL gj = g[j];
                REAL rho = EXP(lr[j]);
                REAL rc = rho > rho_bar ? rho_bar : rho; /* NaN stays NaN, as in torch.clamp */
                REAL cc = rho > c_bar ? c_bar : rho;
                int d = done[j];
                REAL disc = term[j] ? (REAL)0 : gj;
                REAL rt = r[j], vt = val[j], nvt = nv[j];
                REAL a = rc * (rt + disc * nvt - vt) + (d ? (REAL)0 : gj * cc) * A[j];
                REAL following = (d | end) ? nvt : VS[j];
                A[j] = a;
                VS[j] = a + vt;
                vs[j] = a + vt;
                pg[j] = rc * (rt + disc * following - vt);
            }
        }
    }
}

static void SUF(vtrace)(i64 T, i64 N, const View *v, const double *scalars, int mode) {
    REAL gs = (REAL)scalars[0], rho_bar = (REAL)scalars[1], c_bar = (REAL)scalars[2];
#if FRL_VEC
    if (mode == 0) SUF(vtrace_rows_vec)(T, N, v, gs, rho_bar, c_bar);
#else
    if (mode == 0) SUF(vtrace_rows)(T, N, v, gs, rho_bar, c_bar);
#endif
    else SUF(vtrace_cols)(T, N, v, gs, rho_bar, c_bar);
}

/* Entry point: frl_<op>_f32 / frl_<op>_f64. */
#define ENTRY(op, n_tensors)                                                                           \
    int SUF(frl_##op)(i64 T, i64 N, void *const *ptrs, const i64 *strides, const double *scalars) { \
        View v[n_tensors];                                                                            \
        views(v, ptrs, strides, n_tensors);                                                           \
        int mode = layout(v, n_tensors);                                                              \
        if (mode < 0) return -1;                                                                      \
        SUF(op)(T, N, v, scalars, mode);                                                              \
        return 0;                                                                                     \
    }

ENTRY(gae, 9)
ENTRY(td_lambda, 7)
ENTRY(vtrace, 9)
#undef ENTRY

/* frl_simd_f32 / frl_simd_f64: the rows loop's lanes per vector, 0 for the portable loop (for tests). */
int SUF(frl_simd)(void) {
#if FRL_VEC
    return VW;
#else
    return 0;
#endif
}

#undef ROW
#undef STEP
#undef OUT_ROW
#undef OUT_STEP

#endif
