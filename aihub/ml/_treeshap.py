"""Fast exact path-dependent TreeSHAP for scikit-learn random forests.

Computes the same numbers as ``shap.TreeExplainer(forest)`` with the default
``feature_perturbation="tree_path_dependent"`` (Lundberg et al. 2020,
Algorithm 2), but evaluates the Shapley sum of each leaf in closed form, which
compiles to a tight numba loop that runs rows in parallel.

Method
------
For a leaf with value ``v`` whose root-to-leaf path tests the distinct
features ``F`` (``d = |F|``), let ``z_j`` be the product of the cover ratios
``cover(child) / cover(parent)`` of the path edges on feature ``j`` and
``o_j(x)`` be 1 when ``x`` follows every edge on ``j``, else 0.  The leaf adds
to feature ``i`` in ``F``::

    v * (o_i - z_i) * sum_{S subset F-{i}} |S|!(d-1-|S|)!/d!
                      * prod_{j in S} o_j * prod_{j not in S, j != i} z_j

Because the Shapley weight equals the Beta integral
``int_0^1 u^k (1-u)^(d-1-k) du``, the sum is

    int_0^1 prod_{j != i} (z_j + u (o_j - z_j)) du,

a polynomial of degree ``d - 1`` in ``u`` that Gauss-Legendre quadrature with
``ceil(d / 2)`` nodes integrates exactly.  This is the identity behind
Linear TreeShap (Yu et al., NeurIPS 2022).  Cost per row and tree is
``O(leaves * d^2 / 2)``, the same order as the C++ TreeSHAP, but without its
per-node bookkeeping, and rows run on all cores.

The public entry point is :func:`forest_shap`; :func:`available` tells whether
numba is importable (when not, callers fall back to ``shap.TreeExplainer``).

References
----------
Lundberg, S. M., Erion, G., Chen, H. et al. (2020). From local explanations to
global understanding with explainable AI for trees. Nature Machine
Intelligence 2, 56-67.
Yu, P., Bifet, A., Read, J., Xu, C. (2022). Linear TreeShap. NeurIPS 2022.
"""

from __future__ import annotations

import threading

import numpy as np

try:  # numba ships with the venv (statsforecast depends on it); stay optional.
    import numba
    from numba import njit, prange

    _HAVE_NUMBA = True
except Exception:  # noqa: BLE001  # pragma: no cover - numba may fail to import in many ways; stay optional
    _HAVE_NUMBA = False

_MAXQ = 64
# numba's fallback "workqueue" threading layer aborts on concurrent parallel
# calls (e.g. two Streamlit sessions explaining at once); serialise them.
_LOCK = threading.Lock()


def available() -> bool:
    """Return True when the compiled kernel can be used."""
    return _HAVE_NUMBA


def _gauss_tables() -> tuple[np.ndarray, np.ndarray]:
    nodes = np.zeros((_MAXQ + 1, _MAXQ))
    weights = np.zeros((_MAXQ + 1, _MAXQ))
    for q in range(1, _MAXQ + 1):
        x, w = np.polynomial.legendre.leggauss(q)
        nodes[q, :q] = (x + 1.0) / 2.0
        weights[q, :q] = w / 2.0
    return nodes, weights


_U, _W = _gauss_tables()
# W / (1 - u): weight of the shared contribution of features the row does not follow.
_W0 = np.where(_W > 0, _W / np.where(_U < 1, 1.0 - _U, 1.0), 0.0)
# (1 - u) ** m for m = 0 .. 2 * _MAXQ, indexed [q, node, m].
_PW = (1.0 - _U)[:, :, None] ** np.arange(2 * _MAXQ + 1)[None, None, :]

if _HAVE_NUMBA:

    @njit(cache=True)
    def _capacity(left, right, roots, n_features):
        """Table size: the sum over leaves of min(depth, n_features) bounds the entries."""
        depth = np.zeros(left.shape[0], np.int64)
        capacity = 1
        for t in range(roots.shape[0]):
            stack = [roots[t]]
            while len(stack) > 0:
                node = stack.pop()
                if left[node] >= 0:
                    depth[left[node]] = depth[node] + 1
                    depth[right[node]] = depth[node] + 1
                    stack.append(left[node])
                    stack.append(right[node])
                else:
                    capacity += min(depth[node], n_features)
        return capacity

    @njit(cache=True)
    def _extend_path(lvl, f, thr, ratio, side, pf, plo, phi, pz, plen):
        """Path of level ``lvl`` = parent's path with the edge on feature ``f`` merged in."""
        d = plen[lvl - 1]
        pos = -1
        for k in range(d):
            pf[lvl, k] = pf[lvl - 1, k]
            plo[lvl, k] = plo[lvl - 1, k]
            phi[lvl, k] = phi[lvl - 1, k]
            pz[lvl, k] = pz[lvl - 1, k]
            if pf[lvl - 1, k] == f:
                pos = k
        if pos < 0:
            pos = d
            pf[lvl, d] = f
            plo[lvl, d] = -np.inf
            phi[lvl, d] = np.inf
            pz[lvl, d] = 1.0
            d += 1
        pz[lvl, pos] *= ratio
        if side == 0:
            phi[lvl, pos] = min(phi[lvl, pos], thr)
        else:
            plo[lvl, pos] = max(plo[lvl, pos], thr)
        plen[lvl] = d

    @njit(cache=True)
    def _emit_leaf(lvl, pos_out, pf, plo, phi, pz, plen, lf, llo, lhi, lz):
        """Copy the path of level ``lvl`` into the leaf tables; returns the next free position."""
        d = plen[lvl]
        for k in range(d):
            lf[pos_out + k] = pf[lvl, k]
            llo[pos_out + k] = plo[lvl, k]
            lhi[pos_out + k] = phi[lvl, k]
            lz[pos_out + k] = pz[lvl, k]
        return pos_out + d

    @njit(cache=True)
    def _leaf_tables(left, right, feature, threshold, cover, value, roots, max_depth, max_len, n_features):
        """Enumerate root-to-leaf paths: per leaf the distinct features with
        their interval ``lo < x <= hi`` and merged cover ratio ``z``."""
        n_nodes = left.shape[0]
        n_leaves = 0
        for i in range(n_nodes):
            if left[i] < 0:
                n_leaves += 1
        leaf_start = np.zeros(n_leaves + 1, np.int64)
        leaf_v = np.zeros(n_leaves)
        capacity = _capacity(left, right, roots, n_features)
        lf = np.empty(capacity, np.int64)
        llo = np.empty(capacity)
        lhi = np.empty(capacity)
        lz = np.empty(capacity)
        # rows: depth level of a node (0 .. max_depth); columns: distinct path features (<= max_len)
        levels = max_depth + 2
        width = max_len + 1
        pf = np.empty((levels, width), np.int64)
        plo = np.empty((levels, width))
        phi = np.empty((levels, width))
        pz = np.empty((levels, width))
        plen = np.zeros(levels, np.int64)
        st_node = np.empty(2 * n_nodes + 2, np.int64)
        st_lvl = np.empty(2 * n_nodes + 2, np.int64)
        st_side = np.empty(2 * n_nodes + 2, np.int64)
        st_parent = np.empty(2 * n_nodes + 2, np.int64)
        li = 0
        pos_out = 0
        for t in range(roots.shape[0]):
            sp = 0
            st_node[0] = roots[t]
            st_lvl[0] = 0
            st_side[0] = -1
            st_parent[0] = -1
            sp = 1
            while sp > 0:
                sp -= 1
                node = st_node[sp]
                lvl = st_lvl[sp]
                if lvl == 0:
                    plen[0] = 0
                else:
                    par = st_parent[sp]
                    _extend_path(lvl, feature[par], threshold[par], cover[node] / cover[par], st_side[sp], pf, plo, phi, pz, plen)
                lc = left[node]
                if lc < 0:
                    leaf_v[li] = value[node]
                    pos_out = _emit_leaf(lvl, pos_out, pf, plo, phi, pz, plen, lf, llo, lhi, lz)
                    li += 1
                    leaf_start[li] = pos_out
                    continue
                st_node[sp] = lc
                st_lvl[sp] = lvl + 1
                st_side[sp] = 0
                st_parent[sp] = node
                sp += 1
                st_node[sp] = right[node]
                st_lvl[sp] = lvl + 1
                st_side[sp] = 1
                st_parent[sp] = node
                sp += 1
        return leaf_start, leaf_v, lf[:pos_out].copy(), llo[:pos_out].copy(), lhi[:pos_out].copy(), lz[:pos_out].copy()

    @njit(cache=True)
    def _pattern_values(mask, s0, d, v, ztot, lz, U, W, W0, PW, dest, pre, acc, ones):
        """Contributions of one leaf to its ``d`` path features for the rows
        whose 'follows this edge' pattern is ``mask`` (bit k = feature k)."""
        m1 = 0
        for k in range(d):
            if (mask >> k) & 1:
                ones[m1] = k
                acc[m1] = 0.0
                m1 += 1
        m0 = d - m1
        q = (d + 1) // 2
        c0 = 0.0
        for a in range(q):
            u = U[q, a]
            pre[0] = ztot * PW[q, a, m0]
            for b in range(m1):
                z = lz[s0 + ones[b]]
                pre[b + 1] = pre[b] * (1.0 + u * (1.0 - z) / z)
            c0 += W0[q, a] * pre[m1]
            suf = W[q, a]
            for b in range(m1 - 1, -1, -1):
                z = lz[s0 + ones[b]]
                acc[b] += pre[b] * suf
                suf *= 1.0 + u * (1.0 - z) / z
        c0 = -v * c0
        for k in range(d):
            dest[k] = c0
        for b in range(m1):
            k = ones[b]
            z = lz[s0 + k]
            dest[k] = v * (1.0 - z) / z * acc[b]

    @njit(cache=True)
    def _row_masks(XT, lf, llo, lhi, s0, d, rc, m, masks):
        """Pattern bits of rows ``rc .. rc+m``: bit k set when the row follows the leaf's edges on path feature k."""
        for i in range(m):
            masks[i] = 0
        for k in range(d):  # feature by feature over contiguous rows (vectorises)
            col = XT[lf[s0 + k]]
            lo = llo[s0 + k]
            hi = lhi[s0 + k]
            for i in range(m):
                xv = col[rc + i]
                masks[i] |= np.int64((lo < xv) & (xv <= hi)) << k

    @njit(cache=True)
    def _slot(mask, stamp, keys, stamp_id, H):
        """Open-addressing (Fibonacci hashing) slot of ``mask`` in this round's pattern table."""
        h = np.int64((np.uint64(mask) * np.uint64(11400714819323198485)) >> np.uint64(52))
        while stamp[h] == stamp_id and keys[h] != mask:
            h = (h + 1) & (H - 1)
        return h

    @njit(cache=True)
    def _scatter(out, vals, slot, lf, s0, d, rc, m):
        """Add each row's pattern contributions to its path features."""
        for k in range(d):
            orow = out[lf[s0 + k]]
            vrow = vals[k]
            for i in range(m):
                orow[rc + i] += vrow[slot[i]]

    @njit(cache=True, parallel=True)
    def _kernel(X, leaf_start, leaf_v, lf, llo, lhi, lz, U, W, W0, PW, n_chunks, max_len):
        """Leaves are split into ``n_chunks`` parallel chunks, each with its own
        output buffer; within a leaf, rows sharing a pattern share the maths."""
        n = X.shape[0]
        n_features = X.shape[1]
        n_leaves = leaf_v.shape[0]
        XT = np.ascontiguousarray(X.T)
        outs = np.zeros((n_chunks, n_features, n))
        RB = 1024
        H = 4096
        for c in prange(n_chunks):
            l0 = (n_leaves * c) // n_chunks
            l1 = (n_leaves * (c + 1)) // n_chunks
            out = outs[c]
            keys = np.zeros(H, np.int64)
            stamp = np.full(H, -1, np.int64)
            vals = np.empty((max_len, H))  # [path feature, pattern slot]
            dest = np.empty(max_len)
            pre = np.empty(max_len + 2)
            acc = np.empty(max_len + 1)
            ones = np.empty(max_len + 1, np.int64)
            slot = np.empty(RB, np.int64)
            masks = np.empty(RB, np.int64)
            stamp_id = 0
            for leaf in range(l0, l1):
                s0 = leaf_start[leaf]
                d = leaf_start[leaf + 1] - s0
                if d == 0:
                    continue
                v = leaf_v[leaf]
                ztot = 1.0
                for k in range(d):
                    ztot *= lz[s0 + k]
                for rc in range(0, n, RB):
                    stamp_id += 1
                    r_end = min(n, rc + RB)
                    m = r_end - rc
                    _row_masks(XT, lf, llo, lhi, s0, d, rc, m, masks)
                    for i in range(m):
                        mask = masks[i]
                        h = _slot(mask, stamp, keys, stamp_id, H)
                        if stamp[h] != stamp_id:
                            stamp[h] = stamp_id
                            keys[h] = mask
                            _pattern_values(mask, s0, d, v, ztot, lz, U, W, W0, PW, dest, pre, acc, ones)
                            for k in range(d):
                                vals[k, h] = dest[k]
                        slot[i] = h
                    _scatter(out, vals, slot, lf, s0, d, rc, m)
        total = np.zeros((n_features, n))
        for c in range(n_chunks):
            total += outs[c]
        return np.ascontiguousarray(total.T)

    @njit(cache=True)
    def _leaf_row(mask, s0, d, v, ztot, lz, U, W, W0, PW, r, pre, acc, ones, out_row, lf):
        """:func:`_pattern_values` of one leaf for one row, added into ``out_row``; the ratios
        ``(1 - z) / z`` are computed once per leaf instead of once per quadrature node."""
        m1 = 0
        for k in range(d):
            if (mask >> k) & 1:
                ones[m1] = k
                z = lz[s0 + k]
                r[m1] = (1.0 - z) / z
                acc[m1] = 0.0
                m1 += 1
        m0 = d - m1
        q = (d + 1) // 2
        c0 = 0.0
        for a in range(q):
            u = U[q, a]
            pre[0] = ztot * PW[q, a, m0]
            for b in range(m1):
                pre[b + 1] = pre[b] * (1.0 + u * r[b])
            c0 += W0[q, a] * pre[m1]
            suf = W[q, a]
            for b in range(m1 - 1, -1, -1):
                acc[b] += pre[b] * suf
                suf *= 1.0 + u * r[b]
        c0 = -v * c0
        for k in range(d):
            out_row[lf[s0 + k]] += c0
        for b in range(m1):
            out_row[lf[s0 + ones[b]]] += v * r[b] * acc[b] - c0

    @njit(cache=True)
    def _kernel_rows(X, leaf_start, leaf_v, lf, llo, lhi, lz, U, W, W0, PW, max_len):
        """Serial kernel for a few rows (a single prediction): no threads to start or wait for, no pattern table.

        The maths of :func:`_pattern_values` leaf by leaf and row by row; equal to :func:`_kernel` up to
        rounding (1e-12).
        """
        n = X.shape[0]
        out = np.zeros((n, X.shape[1]))
        r = np.empty(max_len + 1)
        pre = np.empty(max_len + 2)
        acc = np.empty(max_len + 1)
        ones = np.empty(max_len + 1, np.int64)
        for leaf in range(leaf_v.shape[0]):
            s0 = leaf_start[leaf]
            d = leaf_start[leaf + 1] - s0
            if d == 0:
                continue
            v = leaf_v[leaf]
            ztot = 1.0
            for k in range(d):
                ztot *= lz[s0 + k]
            for i in range(n):
                mask = 0
                for k in range(d):
                    xv = X[i, lf[s0 + k]]
                    mask |= np.int64((llo[s0 + k] < xv) & (xv <= lhi[s0 + k])) << k
                _leaf_row(mask, s0, d, v, ztot, lz, U, W, W0, PW, r, pre, acc, ones, out[i], lf)
        return out


#: Up to this many rows :func:`forest_shap` runs the serial kernel (starting threads costs more than it saves).
FEW_ROWS = 4


def _flatten(forest, output_index: int):
    """Concatenate the trees of ``forest`` into flat arrays with global node ids."""
    lefts, rights, feats, thrs, covers, values, roots = [], [], [], [], [], [], []
    offset = 0
    max_depth = 0
    for est in forest.estimators_:
        tree = est.tree_
        n = tree.node_count
        left = tree.children_left.astype(np.int64)
        right = tree.children_right.astype(np.int64)
        leaf = left < 0
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        feats.append(np.where(leaf, 0, tree.feature).astype(np.int64))
        thrs.append(tree.threshold.astype(np.float64))
        covers.append(tree.weighted_n_node_samples.astype(np.float64))
        values.append(tree.value[:, 0, output_index].astype(np.float64))
        roots.append(offset)
        max_depth = max(max_depth, int(tree.max_depth))
        offset += n
    return (
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(feats),
        np.concatenate(thrs),
        np.concatenate(covers),
        np.concatenate(values),
        np.asarray(roots, dtype=np.int64),
        max_depth,
    )


def leaf_tables(forest, output_index: int = 0) -> tuple:
    """Per-leaf path tables of ``forest`` (cache them: they depend only on the model)."""
    left, right, feat, thr, cover, value, roots, max_depth = _flatten(forest, output_index)
    n_features = int(forest.n_features_in_)
    max_len = max(1, min(max_depth, n_features))
    if np.any(cover <= 0):
        raise ValueError("forest has empty nodes; use shap.TreeExplainer")
    tables = _leaf_tables(left, right, feat, thr, cover, value, roots, max_depth, max_len, n_features)
    if len(tables[1]) and int(np.max(np.diff(tables[0]))) > 62:
        raise ValueError("a tree path tests more than 62 distinct features; use shap.TreeExplainer")
    base = float(np.mean(value[roots]))
    return tables + (base, len(roots), n_features)


def forest_shap(forest, X: np.ndarray, output_index: int = 0, tables: tuple | None = None) -> tuple[np.ndarray, float]:
    """Exact path-dependent SHAP values of a fitted random forest.

    Parameters
    ----------
    forest : RandomForestClassifier or RandomForestRegressor
        Fitted forest of scikit-learn decision trees (single output).
    X : ndarray of shape (n_rows, n_features)
        Rows in the forest's input space (after preprocessing).
    output_index : int, default 0
        Class column for classifiers (index into ``forest.classes_``); 0 for
        regressors.
    tables : tuple, optional
        Result of :func:`leaf_tables` for the same forest and output index.

    Returns
    -------
    values : ndarray of shape (n_rows, n_features)
        SHAP values; for classifiers in probability units (0 to 1), for
        regressors in target units.
    base_value : float
        Expected forest output under the training cover, so that
        ``base_value + values.sum(1)`` equals ``predict_proba(X)[:, output_index]``
        (classifier) or ``predict(X)`` (regressor).

    Raises
    ------
    RuntimeError
        If numba is not available (check :func:`available` first).
    ValueError
        If ``X`` has the wrong width or holds NaN, or the forest is too deep
        (more than 62 distinct features on one path) for the kernel; callers then
        fall back to ``shap.TreeExplainer``.
    """
    if not _HAVE_NUMBA:  # pragma: no cover
        raise RuntimeError("numba is not installed")
    if tables is None:
        tables = leaf_tables(forest, output_index)
    leaf_start, leaf_v, lf, llo, lhi, lz, base, n_trees, n_features = tables
    # Trees compare float32 inputs against float64 thresholds; replicate exactly.
    Xf = np.ascontiguousarray(np.asarray(X, dtype=np.float32).astype(np.float64))
    if Xf.ndim != 2 or Xf.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_rows, {n_features}); got {Xf.shape}")
    if np.isnan(Xf).any():
        raise ValueError("X contains NaN; impute before explaining")
    max_len = int(np.max(np.diff(leaf_start))) if len(leaf_v) else 1
    if Xf.shape[0] <= FEW_ROWS:  # serial and thread-free: no lock needed
        out = _kernel_rows(Xf, leaf_start, leaf_v, lf, llo, lhi, lz, _U, _W, _W0, _PW, max(max_len, 1))
        out /= n_trees
        return out, base
    n_chunks = max(1, int(numba.get_num_threads()))
    with _LOCK:
        out = _kernel(Xf, leaf_start, leaf_v, lf, llo, lhi, lz, _U, _W, _W0, _PW, n_chunks, max(max_len, 1))
    out /= n_trees
    return out, base
