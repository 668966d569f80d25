#include "pyqml/tensornet/greedy_path.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <tuple>

#include "pyqml/common/errors.hpp"

namespace pyqml::tn {

namespace {

struct Candidate {
    double score;
    int rank;  // rank of the result (tie break: smaller first)
    int a, b;
    bool operator<(const Candidate& o) const {  // priority_queue is a max-heap: invert
        return std::tie(score, rank, a, b) > std::tie(o.score, o.rank, o.a, o.b);
    }
};

}  // namespace

// Labels are renumbered densely (in increasing order, so sorted sets stay sorted and kept labels come out in
// the same order); each index carries the number of alive tensors holding it, so a pair's result is read
// from the two sorted sets alone (an index is kept when a third tensor holds it). Only alive tensors are
// scored, and every alive pair with the same ids has the same score, so the order of pops, and hence the
// path, does not depend on the order of pushes (duplicates are skipped as stale once a tensor is gone).
std::vector<Step> greedy_path(const std::vector<std::vector<int>>& labels) {
    std::vector<int> names;
    for (const auto& ls : labels) names.insert(names.end(), ls.begin(), ls.end());
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    const int n_labels = static_cast<int>(names.size());
    const int n0 = static_cast<int>(labels.size());
    std::vector<std::vector<int>> sets;
    sets.reserve(2 * n0);
    std::vector<std::vector<int>> owners(n_labels);  // label -> alive tensors holding it
    for (const auto& ls : labels) {
        std::vector<int> s;
        s.reserve(ls.size());
        for (int l : ls) s.push_back(int(std::lower_bound(names.begin(), names.end(), l) - names.begin()));
        std::sort(s.begin(), s.end());
        PYQML_REQUIRE(std::adjacent_find(s.begin(), s.end()) == s.end(), "a tensor repeats an index");
        const int id = static_cast<int>(sets.size());
        for (int l : s) owners[l].push_back(id);
        sets.push_back(std::move(s));
    }
    std::vector<char> alive(sets.size(), 1);
    alive.reserve(2 * n0);
    // Kept labels of a and b (both alive): those of the union some other alive tensor holds.
    auto result_size = [&](int a, int b) {
        const auto& x = sets[a];
        const auto& y = sets[b];
        size_t i = 0, j = 0;
        int n = 0;
        while (i < x.size() || j < y.size()) {
            if (j == y.size() || (i < x.size() && x[i] < y[j])) {
                n += owners[x[i++]].size() > 1;
            } else if (i == x.size() || y[j] < x[i]) {
                n += owners[y[j++]].size() > 1;
            } else {
                n += owners[x[i]].size() > 2;
                ++i;
                ++j;
            }
        }
        return n;
    };
    std::vector<Candidate> store;
    store.reserve(8 * n0);
    std::priority_queue<Candidate> heap(std::less<Candidate>(), std::move(store));
    auto pow2 = [](int r) { return r < 63 ? double(uint64_t(1) << r) : std::ldexp(1.0, r); };  // exact
    auto push = [&](int a, int b) {
        if (a > b) std::swap(a, b);
        const int r = result_size(a, b);
        const double score = pow2(r) - pow2(int(sets[a].size())) - pow2(int(sets[b].size()));
        heap.push({score, r, a, b});
    };
    std::vector<int> mark(sets.size(), -1);  // last tensor whose neighbours were pushed
    mark.reserve(2 * n0);
    auto push_neighbours = [&](int t, bool later_only) {
        for (int l : sets[t])
            for (int x : owners[l])
                if (x != t && (!later_only || x > t) && mark[x] != t) {
                    mark[x] = t;
                    push(t, x);
                }
    };
    for (int t = 0; t < n0; ++t) push_neighbours(t, true);
    std::vector<Step> steps;
    steps.reserve(n0 > 0 ? n0 - 1 : 0);
    int n_alive = n0;
    std::vector<int> out;
    auto contract = [&](int a, int b) {
        const auto& x = sets[a];
        const auto& y = sets[b];
        out.clear();
        size_t i = 0, j = 0;
        while (i < x.size() || j < y.size()) {
            if (j == y.size() || (i < x.size() && x[i] < y[j])) {
                if (owners[x[i]].size() > 1) out.push_back(x[i]);
                ++i;
            } else if (i == x.size() || y[j] < x[i]) {
                if (owners[y[j]].size() > 1) out.push_back(y[j]);
                ++j;
            } else {
                if (owners[x[i]].size() > 2) out.push_back(x[i]);
                ++i;
                ++j;
            }
        }
        for (int t : {a, b}) {
            alive[t] = 0;
            for (int l : sets[t]) {
                auto& o = owners[l];
                o.erase(std::remove(o.begin(), o.end(), t), o.end());
            }
        }
        const int c = static_cast<int>(sets.size());
        for (int l : out) owners[l].push_back(c);
        std::vector<int> keep(out.size());
        for (size_t k = 0; k < out.size(); ++k) keep[k] = names[out[k]];
        sets.push_back(out);
        alive.push_back(1);
        mark.push_back(-1);
        steps.push_back({a, b, std::move(keep)});
        --n_alive;
        return c;
    };
    while (!heap.empty()) {
        const Candidate cd = heap.top();
        heap.pop();
        if (!alive[cd.a] || !alive[cd.b]) continue;
        const int c = contract(cd.a, cd.b);
        push_neighbours(c, false);
    }
    // Disconnected parts (e.g. scalars of separate cones): join the smallest first.
    while (n_alive > 1) {
        std::vector<int> rest;
        for (int t = 0; t < static_cast<int>(sets.size()); ++t)
            if (alive[t]) rest.push_back(t);
        std::sort(rest.begin(), rest.end(), [&](int x, int y) { return sets[x].size() < sets[y].size(); });
        contract(rest[0], rest[1]);
    }
    return steps;
}

}  // namespace pyqml::tn
