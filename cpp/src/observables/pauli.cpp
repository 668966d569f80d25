#include "pyqml/observables/pauli.hpp"

#include "pyqml/common/errors.hpp"

namespace pyqml {

std::vector<PauliMasks> compile_observable(const Observable& obs, int n_wires) {
    std::vector<PauliMasks> out;
    out.reserve(obs.terms.size());
    for (const PauliTerm& t : obs.terms) {
        PYQML_REQUIRE(t.wires.size() == t.paulis.size(), "Pauli term: wires and letters differ in length");
        PauliMasks m;
        int ny = 0;
        for (size_t a = 0; a < t.wires.size(); ++a) {
            int w = t.wires[a];
            PYQML_REQUIRE(w >= 0 && w < n_wires, "observable wire " + std::to_string(w) +
                                                     " is out of range for " + std::to_string(n_wires) +
                                                     " wires");
            for (size_t b = 0; b < a; ++b)
                PYQML_REQUIRE(t.wires[b] != w, "observable wire " + std::to_string(w) + " is repeated in a term");
            index_t bit = index_t(1) << bit_of_wire(n_wires, w);
            switch (t.paulis[a]) {
                case 'I': break;
                case 'X': m.xmask |= bit; break;
                case 'Y': m.xmask |= bit; m.zmask |= bit; ++ny; break;
                case 'Z': m.zmask |= bit; break;
                default: throw InvalidInput(std::string("unknown Pauli letter '") + t.paulis[a] + "'");
            }
        }
        static const cplx ipow[4] = {1.0, cplx(0, 1), -1.0, cplx(0, -1)};
        m.phase = t.coeff * ipow[ny % 4];
        out.push_back(m);
    }
    return out;
}

}  // namespace pyqml
