// pybind11 entry point of xaicore._core (the only PYBIND11_MODULE in csrc/).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <stdexcept>

#include "kernels.hpp"

namespace py = pybind11;
using namespace xaicore;

template <class T>
static std::vector<T> to_vec(py::array_t<T, py::array::c_style | py::array::forcecast> a) {
    return std::vector<T>(a.data(), a.data() + a.size());
}

static py::tuple py_sample_raw(int m, py::array_t<int64_t, py::array::c_style | py::array::forcecast> enum_sizes,
                               py::array_t<int64_t, py::array::c_style | py::array::forcecast> strata,
                               py::array_t<double, py::array::c_style | py::array::forcecast> cdf,
                               py::array_t<int64_t, py::array::c_style | py::array::forcecast> counts,
                               int64_t n_units, bool paired, int mode, uint64_t state,
                               int64_t max_draws) {
    SampleResult r;
    {
        auto e = to_vec(enum_sizes), st = to_vec(strata), cn = to_vec(counts);
        auto cd = to_vec(cdf);
        py::gil_scoped_release release;
        r = sample_raw(m, e, st, cd, cn, n_units, paired, mode, state, max_draws);
    }
    py::array_t<uint8_t> masks({r.rows, static_cast<int64_t>(m)});
    if (r.rows) std::memcpy(masks.mutable_data(), r.masks.data(), r.masks.size());
    py::array_t<int64_t> stratum(r.rows), mult(r.rows);
    if (r.rows) {
        std::memcpy(stratum.mutable_data(), r.stratum.data(), r.rows * sizeof(int64_t));
        std::memcpy(mult.mutable_data(), r.mult.data(), r.rows * sizeof(int64_t));
    }
    return py::make_tuple(masks, stratum, mult, r.n_draws);
}

static py::object py_wls_operator(py::array_t<uint8_t, py::array::c_style | py::array::forcecast> masks,
                                  py::array_t<double, py::array::c_style | py::array::forcecast> w,
                                  double ridge) {
    if (masks.ndim() != 2 || w.ndim() != 1 || w.shape(0) != masks.shape(0))
        throw std::invalid_argument("masks: expected [S, M] with weights [S]");
    const int64_t S = masks.shape(0);
    const int m = static_cast<int>(masks.shape(1));
    py::array_t<double> P({static_cast<int64_t>(m), S}), c(m);
    bool ok;
    {
        py::gil_scoped_release release;
        ok = wls_operator(masks.data(), w.data(), S, m, ridge, P.mutable_data(), c.mutable_data());
    }
    if (!ok) return py::none();
    return py::make_tuple(P, c);
}

PYBIND11_MODULE(_core, mod) {
    mod.doc() = "xaicore host kernels: coalition sampling and constrained WLS (C++).";
    mod.def("sample_raw", &py_sample_raw, py::arg("m"), py::arg("enum_sizes"), py::arg("strata"),
            py::arg("cdf"), py::arg("counts"), py::arg("n_units"), py::arg("paired"),
            py::arg("mode"), py::arg("state"), py::arg("max_draws"),
            "Enumerate and sample coalitions; returns (masks uint8[S, M], stratum, mult, n_draws).");
    mod.def("wls_operator", &py_wls_operator, py::arg("masks"), py::arg("weights"),
            py::arg("ridge"),
            "Constrained WLS operator (P[M, S], c[M]), or None when the design is singular.");
}
