#include "pyqml/tensornet/greedy_path.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "pyqml/common/errors.hpp"

namespace pyqml::tn {

namespace {

struct Candidate {
    double score;
    int rank;  // rank of the result (tie break: smaller first)
    int a, b;
    int va, vb;  // versions of a and b when scored
    bool operator<(const Candidate& o) const {  // priority_queue is a max-heap: invert
        return std::tie(score, rank, a, b) > std::tie(o.score, o.rank, o.a, o.b);
    }
};

}  // namespace

std::vector<Step> greedy_path(const std::vector<std::vector<int>>& labels) {
    std::vector<std::vector<int>> sets;
    std::unordered_map<int, std::vector<int>> owners;  // label -> alive tensors holding it
    for (const auto& ls : labels) {
        std::vector<int> s(ls);
        std::sort(s.begin(), s.end());
        PYQML_REQUIRE(std::adjacent_find(s.begin(), s.end()) == s.end(), "a tensor repeats an index");
        const int id = static_cast<int>(sets.size());
        for (int l : s) owners[l].push_back(id);
        sets.push_back(std::move(s));
    }
    std::vector<char> alive(sets.size(), 1);
    std::vector<int> version(sets.size(), 0);
    auto result_of = [&](int a, int b) {
        std::vector<int> out;
        std::vector<int> u;
        std::set_union(sets[a].begin(), sets[a].end(), sets[b].begin(), sets[b].end(), std::back_inserter(u));
        for (int l : u) {
            for (int t : owners[l])
                if (t != a && t != b) {
                    out.push_back(l);
                    break;
                }
        }
        return out;
    };
    std::priority_queue<Candidate> heap;
    auto push = [&](int a, int b) {
        if (a > b) std::swap(a, b);
        auto out = result_of(a, b);
        const double score = std::ldexp(1.0, int(out.size())) - std::ldexp(1.0, int(sets[a].size())) -
                             std::ldexp(1.0, int(sets[b].size()));
        heap.push({score, int(out.size()), a, b, version[a], version[b]});
    };
    auto push_neighbours = [&](int t) {
        std::vector<int> seen;
        for (int l : sets[t])
            for (int x : owners[l])
                if (x != t && alive[x]) seen.push_back(x);
        std::sort(seen.begin(), seen.end());
        seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
        for (int x : seen) push(t, x);
    };
    for (int t = 0; t < static_cast<int>(sets.size()); ++t) {
        for (int l : sets[t])
            for (int x : owners[l])
                if (x > t) push(t, x);
    }
    std::vector<Step> steps;
    int n_alive = static_cast<int>(sets.size());
    auto contract = [&](int a, int b) {
        std::vector<int> out = result_of(a, b);
        for (int t : {a, b}) {
            alive[t] = 0;
            ++version[t];
            for (int l : sets[t]) {
                auto& o = owners[l];
                o.erase(std::remove(o.begin(), o.end(), t), o.end());
            }
        }
        const int c = static_cast<int>(sets.size());
        for (int l : out) owners[l].push_back(c);
        sets.push_back(out);
        alive.push_back(1);
        version.push_back(0);
        steps.push_back({a, b, out});
        --n_alive;
        return c;
    };
    while (!heap.empty()) {
        Candidate cd = heap.top();
        heap.pop();
        if (!alive[cd.a] || !alive[cd.b] || version[cd.a] != cd.va || version[cd.b] != cd.vb) continue;
        const int c = contract(cd.a, cd.b);
        push_neighbours(c);
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
