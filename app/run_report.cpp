#include "app/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/roofline.h"
#include "engine/config/config.h"
#include "kernels/common/error.h"
#include "models/arch.h"
#include "models/registry.h"
#include "pruning/report.h"

namespace shears::app {

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

double num(const nlohmann::json& j, const char* key, double fallback = kNaN) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

std::vector<EpochPoint> read_metrics(const std::string& path) {
  std::vector<EpochPoint> out;
  std::ifstream in(path);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(path + ":" + std::to_string(line_no) + ": not a JSON object");
    }
    EpochPoint p;
    p.epoch = num(j, "epoch", static_cast<double>(out.size() + 1));
    p.train_loss = num(j, "train_loss");
    p.train_top1 = num(j, "train_top1");
    p.val_loss = num(j, "val_loss");
    p.val_top1 = num(j, "val_top1");
    p.seconds = num(j, "seconds", 0.0);
    out.push_back(p);
  }
  return out;
}

std::string split_name(const Config& cfg, const char* size_key, const std::string& whole) {
  std::int64_t n = 0;
  if (cfg.has("data") && cfg.child("data").has(size_key))
    n = cfg.child("data").get<std::int64_t>(size_key);
  if (n <= 0) return whole;
  return whole + " (" + std::to_string(n) + " images)";
}

std::vector<std::pair<std::string, std::int64_t>> widths_of(const models::Arch& a) {
  return a.widths;
}
}  // namespace

RunInfo load_run(const std::string& dir, bool predict) {
  const std::string summary_path = dir + "/summary.json";
  std::ifstream in(summary_path);
  if (!in) throw Error(summary_path + ": not found (" + dir + " is not a shears run directory)");
  nlohmann::json s;
  try {
    in >> s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(summary_path + ": not valid JSON (" + e.what() + ")");
  }
  if (!s.is_object() || !s.contains("dense") || !s["dense"].is_object()) {
    throw Error(summary_path + ": no 'dense' section (not a summary written by shears run)");
  }
  RunInfo r;
  r.dir = dir;
  r.name = s.value("name", std::filesystem::path(dir).filename().string());
  r.model = s.value("model", std::string("?"));
  r.dataset = s.value("dataset", std::string("?"));
  r.method = s.value("method", std::string("dense"));
  r.bench_batch = s.value("bench_batch_size", std::int64_t{1});
  const nlohmann::json& dense = s["dense"];
  const nlohmann::json& pruned = s.contains("pruned") ? s["pruned"] : s["dense"];
  // Accuracy per split ({"test": {"top1": ..}, "validation": {..}}), or the older flat "top1"
  // (the test split).
  auto split_top1 = [](const nlohmann::json& m, const char* split) {
    if (m.contains(split) && m[split].is_object()) return num(m[split], "top1");
    return std::string(split) == "test" ? num(m, "top1") : num(m, "val_top1");
  };
  r.dense_test_top1 = split_top1(dense, "test");
  r.test_top1 = split_top1(pruned, "test");
  r.dense_val_top1 = split_top1(dense, "validation");
  r.val_top1 = split_top1(pruned, "validation");
  r.drop = r.dense_test_top1 - r.test_top1;
  r.dense_flops = static_cast<std::int64_t>(num(dense, "flops", 0));
  r.flops = static_cast<std::int64_t>(num(pruned, "flops", 0));
  r.dense_params = static_cast<std::int64_t>(num(dense, "params", 0));
  r.params = static_cast<std::int64_t>(num(pruned, "params", 0));
  r.flops_reduction = r.pruned() ? pruning::reduction_percent(r.dense_flops, r.flops) : 0.0;
  r.params_reduction = r.pruned() ? pruning::reduction_percent(r.dense_params, r.params) : 0.0;
  double dl = num(dense, "latency_ms", 0), pl = num(pruned, "latency_ms", 0);
  r.speedup = r.pruned() && dl > 0 && pl > 0 ? dl / pl : kNaN;
  r.analytic_flops_reduction = kNaN;
  r.predicted_speedup = kNaN;
  const nlohmann::json rep = s.contains("method_report") ? s["method_report"] : nlohmann::json();
  for (const char* key : {"mode", "variant", "criterion"}) {
    if (rep.is_object() && rep.contains(key) && rep[key].is_string()) {
      r.mode = rep[key].get<std::string>();
      break;
    }
  }
  if (!r.pruned()) r.mode = "dense";

  // Splits: the validation split is held out of the training set when data.val_size > 0.
  r.val_split = "test";
  r.test_split = "test";
  if (std::filesystem::exists(dir + "/config.yaml")) {
    try {
      Config cfg = Config::load_file(dir + "/config.yaml");
      r.test_split = split_name(cfg, "test_size", "test");
      std::string held = split_name(cfg, "val_size", "");
      r.val_split = held.empty() ? r.test_split : "held-out train" + held;
    } catch (const Error&) {
      // An unreadable config leaves the split names generic.
    }
  }
  if (s.contains("splits") && s["splits"].is_object()) {
    // Short names for the table ("held-out train (5000 images)"), the source text in full for
    // the HTML tooltip.
    auto describe = [&](const char* split, const std::string& fallback, std::string& source) {
      const nlohmann::json& sp = s["splits"];
      if (!sp.contains(split) || !sp[split].is_object()) return fallback;
      source = sp[split].value("source", std::string());
      std::string name = source.rfind("held out", 0) == 0 ? "held-out train" : "test";
      if (sp[split].contains("images") && sp[split]["images"].is_number_integer())
        name += " (" + std::to_string(sp[split]["images"].get<std::int64_t>()) + " images)";
      return name;
    };
    r.val_split = describe("validation", r.val_split, r.val_source);
    r.test_split = describe("test", r.test_split, r.test_source);
  }

  // Training curves: every stage folder with a metrics.jsonl, the dense training first.
  std::vector<std::string> stages;
  if (std::filesystem::is_directory(dir)) {
    for (auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_directory() && std::filesystem::exists(e.path() / "metrics.jsonl"))
        stages.push_back(e.path().filename().string());
    }
  }
  std::sort(stages.begin(), stages.end(), [](const std::string& a, const std::string& b) {
    if ((a == "train") != (b == "train")) return a == "train";
    return a < b;
  });
  for (const std::string& st : stages) {
    StageCurve c{st, read_metrics(dir + "/" + st + "/metrics.jsonl")};
    for (auto& p : c.epochs) r.train_seconds += p.seconds;
    r.curves.push_back(c);
  }
  // Validation accuracy from the curves when the summary does not record it.
  auto last_val = [&](bool of_pruned) {
    for (auto it = r.curves.rbegin(); it != r.curves.rend(); ++it) {
      if ((it->stage == "train") == of_pruned) continue;
      if (!it->epochs.empty()) return it->epochs.back().val_top1;
    }
    return kNaN;
  };
  if (std::isnan(r.dense_val_top1)) r.dense_val_top1 = last_val(false);
  if (std::isnan(r.val_top1)) r.val_top1 = r.pruned() ? last_val(true) : r.dense_val_top1;

  // Architectures: kept widths, the analytic FLOPs of SFP/FPGM, the cost model's prediction.
  if (r.pruned() && s.contains("pruned_arch")) {
    try {
      models::Arch pa = models::arch_from_json(s["pruned_arch"].dump());
      models::Arch da = models::default_arch(pa.name, pa.num_classes, pa.input, pa.width_mult);
      da.shortcut = pa.shortcut;
      r.widths = widths_of(pa);
      r.dense_widths = widths_of(da);
      const bool cifar_resnet = pa.name == "resnet20" || pa.name == "resnet32" ||
                                pa.name == "resnet44" || pa.name == "resnet56" ||
                                pa.name == "resnet110";
      double rate = kNaN;
      if (r.method == "sfp") rate = num(rep, "rate");
      if (r.method == "fpgm") rate = num(rep, "dist_rate", 0) + num(rep, "norm_rate", 0);
      if (cifar_resnet && !std::isnan(rate) && rate >= 0 && rate < 1) {
        r.analytic_flops_reduction = pruning::analytic_sfp_flops_reduction(da, 1.0 - rate);
      }
      if (predict) {
        PeakRates rates = cached_peak_rates(Device::cpu(), false);
        auto dm = models::build_model(da);
        auto pm = models::build_model(pa);
        double td = predict_forward_s(trace_op_costs(*dm, da.input, r.bench_batch), rates);
        double tp = predict_forward_s(trace_op_costs(*pm, pa.input, r.bench_batch), rates);
        r.predicted_speedup = tp > 0 ? td / tp : kNaN;
      }
    } catch (const Error& e) {
      throw Error(summary_path + ": pruned_arch: " + e.what());
    }
  }
  return r;
}

std::string report_markdown(const std::vector<RunInfo>& runs) {
  std::ostringstream o;
  o << "| run | method | mode | model | dataset | val top-1 % (split) | test top-1 % (split) | "
       "dense test top-1 % | drop | FLOPs red. % (traced / paper) | params red. % | speedup (meas. "
       "/ pred.) | "
       "train+search s |\n";
  o << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RunInfo& r : runs) {
    o << "| " << r.name << " | " << r.method << " | " << r.mode << " | " << r.model << " | "
      << r.dataset << " | " << fmt("%.2f", r.val_top1) << " (" << r.val_split << ") | "
      << fmt("%.2f", r.test_top1) << " (" << r.test_split << ") | "
      << fmt("%.2f", r.dense_test_top1) << " | " << fmt("%.2f", r.drop) << " | "
      << fmt("%.1f", r.flops_reduction) << " / " << fmt("%.1f", r.analytic_flops_reduction) << " | "
      << fmt("%.1f", r.params_reduction) << " | " << fmt("%.2fx", r.speedup) << " / "
      << fmt("%.2fx", r.predicted_speedup) << " | " << fmt("%.0f", r.train_seconds) << " |\n";
  }
  return o.str();
}

// ---- SVG ------------------------------------------------------------------------------------

namespace {

/// Greyscale-distinguishable series styles: marker shape and fill differ, not only hue.
struct Style {
  const char* shape;  // circle, square, triangle, diamond, cross, plus, star
  const char* fill;
  const char* stroke;
};
const Style kStyles[] = {{"circle", "#1b3a6b", "#000"},   {"square", "#ffffff", "#000"},
                         {"triangle", "#8a8a8a", "#000"}, {"diamond", "#000000", "#000"},
                         {"tri-down", "#ffffff", "#000"}, {"cross", "#c0392b", "#c0392b"},
                         {"square", "#d0d0d0", "#000"},   {"circle", "#ffffff", "#000"}};

std::string marker(const Style& s, double x, double y, double r, bool hollow = false) {
  std::ostringstream o;
  const char* fill = hollow ? "none" : s.fill;
  o << "<g class=\"marker\" fill=\"" << fill << "\" stroke=\"" << s.stroke
    << "\" stroke-width=\"1.5\">";
  auto pt = [&](double dx, double dy) {
    return fmt("%.1f", x + dx) + "," + fmt("%.1f", y + dy) + " ";
  };
  std::string sh = s.shape;
  if (sh == "circle") {
    o << "<circle cx=\"" << fmt("%.1f", x) << "\" cy=\"" << fmt("%.1f", y) << "\" r=\""
      << fmt("%.1f", r) << "\"/>";
  } else if (sh == "square") {
    o << "<rect x=\"" << fmt("%.1f", x - r) << "\" y=\"" << fmt("%.1f", y - r) << "\" width=\""
      << fmt("%.1f", 2 * r) << "\" height=\"" << fmt("%.1f", 2 * r) << "\"/>";
  } else if (sh == "triangle") {
    o << "<polygon points=\"" << pt(0, -1.2 * r) << pt(1.1 * r, 0.8 * r) << pt(-1.1 * r, 0.8 * r)
      << "\"/>";
  } else if (sh == "tri-down") {
    o << "<polygon points=\"" << pt(0, 1.2 * r) << pt(1.1 * r, -0.8 * r) << pt(-1.1 * r, -0.8 * r)
      << "\"/>";
  } else if (sh == "diamond") {
    o << "<polygon points=\"" << pt(0, -1.3 * r) << pt(1.3 * r, 0) << pt(0, 1.3 * r)
      << pt(-1.3 * r, 0) << "\"/>";
  } else {
    o << "<path d=\"M" << pt(-r, -r) << "L" << pt(r, r) << "M" << pt(-r, r) << "L" << pt(r, -r)
      << "\" stroke-width=\"2.5\"/>";
  }
  o << "</g>";
  return o.str();
}

/// "Nice" tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

std::string tick_label(double v) {
  char buf[32];
  if (std::fabs(v) < 1e-9) v = 0.0;  // no "-0"
  if (std::fabs(v) >= 100 || std::fabs(v - std::round(v)) < 1e-9) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else if (std::fabs(v * 10 - std::round(v * 10)) < 1e-9) {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f", v);
  }
  return buf;
}

/// A chart frame with linear axes, ticks, grid and axis titles.
struct Chart {
  double w = 600, h = 380, ml = 70, mr = 20, mt = 36, mb = 56;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  std::string title, xlabel, ylabel, id;
  bool xticks = true;
  std::ostringstream body;

  double px(double x) const { return ml + (x - x0) / (x1 - x0) * (w - ml - mr); }
  double py(double y) const { return h - mb - (y - y0) / (y1 - y0) * (h - mt - mb); }
  void range(double xa, double xb, double ya, double yb) {
    double dx = (xb - xa) * 0.06 + 1e-9, dy = (yb - ya) * 0.08 + 1e-9;
    x0 = xa - dx;
    x1 = xb + dx;
    y0 = ya - dy;
    y1 = yb + dy;
  }
  std::string svg() const {
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"" << id << "\" width=\""
      << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w << " " << h
      << "\" role=\"img\" aria-label=\"" << esc(title) << "\">";
    o << "<rect x=\"0\" y=\"0\" width=\"" << w << "\" height=\"" << h << "\" fill=\"#fff\"/>";
    o << "<text x=\"" << w / 2 << "\" y=\"20\" text-anchor=\"middle\" class=\"title\">"
      << esc(title) << "</text>";
    for (double t : xticks ? ticks(x0, x1) : std::vector<double>{}) {
      double x = px(t);
      o << "<line x1=\"" << fmt("%.1f", x) << "\" y1=\"" << mt << "\" x2=\"" << fmt("%.1f", x)
        << "\" y2=\"" << h - mb << "\" stroke=\"#e4e4e4\"/>";
      o << "<text x=\"" << fmt("%.1f", x) << "\" y=\"" << h - mb + 16
        << "\" text-anchor=\"middle\" class=\"tick\">" << tick_label(t) << "</text>";
    }
    for (double t : ticks(y0, y1)) {
      double y = py(t);
      o << "<line x1=\"" << ml << "\" y1=\"" << fmt("%.1f", y) << "\" x2=\"" << w - mr << "\" y2=\""
        << fmt("%.1f", y) << "\" stroke=\"#e4e4e4\"/>";
      o << "<text x=\"" << ml - 6 << "\" y=\"" << fmt("%.1f", y + 4)
        << "\" text-anchor=\"end\" class=\"tick\">" << tick_label(t) << "</text>";
    }
    o << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << w - ml - mr << "\" height=\""
      << h - mt - mb << "\" fill=\"none\" stroke=\"#333\"/>";
    o << "<text x=\"" << (ml + w - mr) / 2 << "\" y=\"" << h - 14
      << "\" text-anchor=\"middle\" class=\"axis\">" << esc(xlabel) << "</text>";
    o << "<text transform=\"translate(16," << (mt + h - mb) / 2
      << ") rotate(-90)\" text-anchor=\"middle\" class=\"axis\">" << esc(ylabel) << "</text>";
    o << body.str() << "</svg>";
    return o.str();
  }
};

std::string legend_html(const std::vector<std::pair<std::string, std::string>>& items) {
  std::ostringstream o;
  o << "<div class=\"legend\">";
  for (auto& [svg_marker, label] : items) {
    o << "<span><svg width=\"22\" height=\"18\" viewBox=\"0 0 22 18\">" << svg_marker << "</svg>"
      << esc(label) << "</span>";
  }
  o << "</div>";
  return o.str();
}

std::string line_path(const std::vector<std::pair<double, double>>& pts, const Chart& c) {
  std::ostringstream o;
  bool first = true;
  for (auto& [x, y] : pts) {
    if (std::isnan(y)) continue;
    o << (first ? "M" : "L") << fmt("%.1f", c.px(x)) << "," << fmt("%.1f", c.py(y)) << " ";
    first = false;
  }
  return o.str();
}
}  // namespace

std::string report_html(const std::vector<RunInfo>& runs) {
  std::map<std::string, std::size_t> method_style;
  for (const RunInfo& r : runs)
    if (r.pruned() && !method_style.count(r.method)) {
      std::size_t k = method_style.size() % (sizeof(kStyles) / sizeof(kStyles[0]) - 1) + 1;
      method_style[r.method] = k;
    }
  const Style& dense_style = kStyles[0];
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>shears report</title><style>"
       "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:20px auto;max-width:1240px;"
       "color:#111;background:#fff;font-size:14px}"
       "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #aaa}"
       "table{border-collapse:collapse;width:100%;font-size:12.5px}"
       "th,td{border:1px solid #999;padding:3px 6px;text-align:right}"
       "th{background:#e8e8e8}td.l,th.l{text-align:left}"
       "tr:nth-child(even) td{background:#f6f6f6}"
       ".charts{display:flex;flex-wrap:wrap;gap:16px}"
       ".legend{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0 8px 70px;font-size:13px}"
       ".legend span{display:flex;align-items:center;gap:4px}"
       "svg text{font-family:'DejaVu Sans',Arial,sans-serif}"
       "svg .title{font-size:14px;font-weight:bold}svg .tick{font-size:11px;fill:#333}"
       "svg .axis{font-size:12.5px}svg .note{font-size:11px;fill:#333}"
       "p.note{color:#333;font-size:12.5px}"
       "</style></head><body>\n";
  o << "<h1>shears report: " << runs.size() << " run" << (runs.size() == 1 ? "" : "s") << "</h1>\n";

  // ---- table
  o << "<h2>Runs</h2>\n<table id=\"runs\"><thead><tr><th class=\"l\">run</th><th "
       "class=\"l\">method</th><th class=\"l\">mode</th><th class=\"l\">model</th><th "
       "class=\"l\">dataset</th><th>val top-1 %</th><th class=\"l\">val split</th><th>test "
       "top-1 %</th><th class=\"l\">test split</th><th>dense test top-1 %</th><th>drop "
       "(points)</th><th>FLOPs red. % traced</th><th>FLOPs red. % paper</th><th>params red. "
       "%</th><th>speedup measured</th><th>speedup predicted</th><th>train + search "
       "s</th></tr></thead><tbody>\n";
  for (const RunInfo& r : runs) {
    o << "<tr class=\"run\"><td class=\"l\">" << esc(r.name) << "</td><td class=\"l\">"
      << esc(r.method) << "</td><td class=\"l\">" << esc(r.mode) << "</td><td class=\"l\">"
      << esc(r.model) << "</td><td class=\"l\">" << esc(r.dataset) << "</td><td>"
      << fmt("%.2f", r.val_top1) << "</td><td class=\"l\" title=\"" << esc(r.val_source) << "\">"
      << esc(r.val_split) << "</td><td>" << fmt("%.2f", r.test_top1)
      << "</td><td class=\"l\" title=\"" << esc(r.test_source) << "\">" << esc(r.test_split)
      << "</td><td>" << fmt("%.2f", r.dense_test_top1) << "</td><td>" << fmt("%.2f", r.drop)
      << "</td><td>" << fmt("%.1f", r.flops_reduction) << "</td><td>"
      << fmt("%.1f", r.analytic_flops_reduction) << "</td><td>" << fmt("%.1f", r.params_reduction)
      << "</td><td>" << fmt("%.2f&times;", r.speedup) << "</td><td>"
      << fmt("%.2f&times;", r.predicted_speedup) << "</td><td>" << fmt("%.0f", r.train_seconds)
      << "</td></tr>\n";
  }
  o << "</tbody></table>\n<p class=\"note\">Accuracies are top-1 in percent on the named split; "
       "drop = dense test top-1 &minus; pruned test top-1. FLOPs are multiply-accumulates of "
       "conv and linear layers per image, traced from the network; the paper column is the "
       "method's analytic count where its paper has one. Measured speedup: median forward "
       "latency ratio at the run's bench batch; predicted: the roofline cost model at this "
       "machine's cached peak rates (see <code>shears bench --help</code>).</p>\n";

  std::vector<std::pair<std::string, std::string>> legend;
  legend.push_back({marker(dense_style, 11, 9, 5), "dense"});
  for (auto& [m, k] : method_style) legend.push_back({marker(kStyles[k], 11, 9, 5), m});

  // ---- accuracy vs FLOPs
  {
    Chart c;
    c.id = "acc-flops";
    c.title = "Test top-1 accuracy vs FLOPs";
    c.xlabel = "FLOPs per image (millions of multiply-accumulates)";
    c.ylabel = "test top-1 accuracy (%)";
    double xa = 1e300, xb = -1e300, ya = 1e300, yb = -1e300;
    for (const RunInfo& r : runs) {
      for (auto [f, a] : {std::pair<double, double>{r.dense_flops / 1e6, r.dense_test_top1},
                          {r.flops / 1e6, r.test_top1}}) {
        if (std::isnan(a)) continue;
        xa = std::min(xa, f);
        xb = std::max(xb, f);
        ya = std::min(ya, a);
        yb = std::max(yb, a);
      }
    }
    if (xa > xb) xa = 0, xb = 1, ya = 0, yb = 100;
    c.range(std::min(0.0, xa), xb, ya, yb);
    std::map<std::string, bool> dense_drawn;
    for (const RunInfo& r : runs) {
      std::string key = r.model + "|" + r.dataset + "|" + fmt("%.3f", r.dense_test_top1);
      if (!dense_drawn[key] && !std::isnan(r.dense_test_top1)) {
        dense_drawn[key] = true;
        c.body << "<g class=\"point dense\">"
               << marker(dense_style, c.px(r.dense_flops / 1e6), c.py(r.dense_test_top1), 6)
               << "</g>";
      }
      if (r.pruned() && !std::isnan(r.test_top1)) {
        c.body << "<line x1=\"" << fmt("%.1f", c.px(r.dense_flops / 1e6)) << "\" y1=\""
               << fmt("%.1f", c.py(r.dense_test_top1)) << "\" x2=\""
               << fmt("%.1f", c.px(r.flops / 1e6)) << "\" y2=\"" << fmt("%.1f", c.py(r.test_top1))
               << "\" stroke=\"#999\" stroke-dasharray=\"3,3\"/>";
        c.body << "<g class=\"point pruned\" data-run=\"" << esc(r.name) << "\">"
               << marker(kStyles[method_style[r.method]], c.px(r.flops / 1e6), c.py(r.test_top1), 6)
               << "</g>";
      }
    }
    o << "<h2>Accuracy and speed</h2>\n<div class=\"charts\"><div>" << c.svg()
      << legend_html(legend) << "</div>\n";
  }

  // ---- speedup vs FLOPs reduction
  {
    Chart c;
    c.id = "speedup-flops";
    c.title = "Speedup vs FLOPs reduction";
    c.xlabel = "FLOPs ratio, dense / pruned (x)";
    c.ylabel = "inference speedup over dense (x)";
    double xb = 1.0, yb = 1.0, ya = 0.5;
    for (const RunInfo& r : runs) {
      if (!r.pruned() || r.flops <= 0) continue;
      double fr = static_cast<double>(r.dense_flops) / static_cast<double>(r.flops);
      xb = std::max(xb, fr);
      for (double v : {r.speedup, r.predicted_speedup}) {
        if (std::isnan(v)) continue;
        yb = std::max(yb, v);
        ya = std::min(ya, v);
      }
    }
    double top = std::max(xb, yb);
    c.range(0.8, top, ya, top);
    c.body << "<line class=\"ideal\" x1=\"" << fmt("%.1f", c.px(0.8)) << "\" y1=\""
           << fmt("%.1f", c.py(0.8)) << "\" x2=\"" << fmt("%.1f", c.px(top)) << "\" y2=\""
           << fmt("%.1f", c.py(top)) << "\" stroke=\"#000\" stroke-dasharray=\"6,4\"/>";
    c.body << "<text class=\"note\" x=\"" << fmt("%.1f", c.px(top) - 4) << "\" y=\""
           << fmt("%.1f", c.py(top) + 14) << "\" text-anchor=\"end\">ideal: speedup = FLOPs "
           << "ratio</text>";
    c.body << "<line x1=\"" << fmt("%.1f", c.px(0.8)) << "\" y1=\"" << fmt("%.1f", c.py(1))
           << "\" x2=\"" << fmt("%.1f", c.px(top)) << "\" y2=\"" << fmt("%.1f", c.py(1))
           << "\" stroke=\"#777\"/>";
    for (const RunInfo& r : runs) {
      if (!r.pruned() || r.flops <= 0) continue;
      double fr = static_cast<double>(r.dense_flops) / static_cast<double>(r.flops);
      const Style& st = kStyles[method_style[r.method]];
      if (!std::isnan(r.speedup) && !std::isnan(r.predicted_speedup)) {
        c.body << "<line x1=\"" << fmt("%.1f", c.px(fr)) << "\" y1=\""
               << fmt("%.1f", c.py(r.speedup)) << "\" x2=\"" << fmt("%.1f", c.px(fr)) << "\" y2=\""
               << fmt("%.1f", c.py(r.predicted_speedup)) << "\" stroke=\"#999\"/>";
      }
      if (!std::isnan(r.predicted_speedup)) {
        c.body << "<g class=\"point predicted\">"
               << marker(st, c.px(fr), c.py(r.predicted_speedup), 5, true) << "</g>";
      }
      if (!std::isnan(r.speedup)) {
        c.body << "<g class=\"point measured\" data-run=\"" << esc(r.name) << "\">"
               << marker(st, c.px(fr), c.py(r.speedup), 6) << "</g>";
      }
    }
    std::vector<std::pair<std::string, std::string>> lg(legend.begin() + 1, legend.end());
    lg.push_back(
        {"<line x1=\"1\" y1=\"9\" x2=\"21\" y2=\"9\" stroke=\"#000\" "
         "stroke-dasharray=\"6,4\"/>",
         "ideal"});
    lg.push_back({marker(kStyles[1], 11, 9, 5, true), "hollow: cost-model prediction"});
    o << "<div>" << c.svg() << legend_html(lg) << "</div></div>\n";
  }

  // ---- kept widths
  bool any_widths = false;
  for (const RunInfo& r : runs) any_widths |= r.pruned() && !r.widths.empty();
  if (any_widths) {
    o << "<h2>Kept widths per layer</h2>\n<p class=\"note\">Output channels of every layer "
         "whose width is free (dense: light bar with outline; kept: dark bar), in network "
         "order.</p>\n";
    for (const RunInfo& r : runs) {
      if (!r.pruned() || r.widths.empty()) continue;
      std::map<std::string, std::int64_t> dense(r.dense_widths.begin(), r.dense_widths.end());
      Chart c;
      c.id = "widths-" + r.name;
      c.w = 1200;
      c.h = 300;
      c.mb = 120;
      c.xticks = false;
      c.title = r.name + " (" + r.method + ", " + r.model + "): kept channels per layer";
      c.xlabel = "layer (network order)";
      c.ylabel = "output channels";
      double ymax = 1;
      for (auto& [k, v] : r.widths) ymax = std::max<double>(ymax, std::max<double>(v, dense[k]));
      const double n = static_cast<double>(r.widths.size());
      c.x0 = 0;
      c.x1 = n;
      c.y0 = 0;
      c.y1 = ymax * 1.08;
      double bw = (c.px(1) - c.px(0)) * 0.8;
      std::size_t label_every = std::max<std::size_t>(1, r.widths.size() / 28);
      for (std::size_t i = 0; i < r.widths.size(); ++i) {
        auto& [k, v] = r.widths[i];
        double x = c.px(static_cast<double>(i) + 0.1);
        double dw = static_cast<double>(dense.count(k) ? dense[k] : v);
        c.body << "<rect class=\"dense-bar\" x=\"" << fmt("%.1f", x) << "\" y=\""
               << fmt("%.1f", c.py(dw)) << "\" width=\"" << fmt("%.1f", bw) << "\" height=\""
               << fmt("%.1f", c.py(0) - c.py(dw)) << "\" fill=\"#ddd\" stroke=\"#555\"/>";
        c.body << "<rect class=\"kept-bar\" x=\"" << fmt("%.1f", x + bw * 0.15) << "\" y=\""
               << fmt("%.1f", c.py(static_cast<double>(v))) << "\" width=\""
               << fmt("%.1f", bw * 0.7) << "\" height=\""
               << fmt("%.1f", c.py(0) - c.py(static_cast<double>(v)))
               << "\" fill=\"#1b3a6b\"><title>" << esc(k) << ": " << v << " of " << dw
               << "</title></rect>";
        if (i % label_every == 0) {
          c.body << "<text class=\"tick\" transform=\"translate(" << fmt("%.1f", x + bw / 2) << ","
                 << fmt("%.1f", c.py(0) + 8) << ") rotate(60)\">" << esc(k) << "</text>";
        }
      }
      o << c.svg() << "\n";
    }
  }

  // ---- training curves
  o << "<h2>Training curves</h2>\n<p class=\"note\">Per epoch from each stage's metrics.jsonl; "
       "stages follow each other on the epoch axis (vertical lines mark a new stage). Solid: "
       "training split; dashed: validation split.</p>\n";
  for (const RunInfo& r : runs) {
    if (r.curves.empty()) continue;
    o << "<div class=\"charts\">";
    for (int which = 0; which < 2; ++which) {
      Chart c;
      c.id = std::string(which == 0 ? "loss-" : "top1-") + r.name;
      c.title = r.name + ": " + (which == 0 ? "loss" : "top-1 accuracy");
      c.xlabel = "epoch (all stages)";
      c.ylabel = which == 0 ? "cross-entropy loss" : "top-1 accuracy (%)";
      std::vector<std::pair<double, double>> tr, va;
      std::vector<std::pair<double, std::string>> starts;
      double offset = 0, ya = 1e300, yb = -1e300;
      for (const StageCurve& s : r.curves) {
        starts.push_back({offset, s.stage});
        double last = 0;
        for (const EpochPoint& p : s.epochs) {
          double t = which == 0 ? p.train_loss : p.train_top1;
          double v = which == 0 ? p.val_loss : p.val_top1;
          tr.push_back({offset + p.epoch, t});
          va.push_back({offset + p.epoch, v});
          for (double y : {t, v})
            if (!std::isnan(y)) ya = std::min(ya, y), yb = std::max(yb, y);
          last = p.epoch;
        }
        offset += last;
      }
      if (ya > yb) ya = 0, yb = 1;
      c.range(0, std::max(offset, 1.0), which == 0 ? 0 : ya, yb);
      for (std::size_t i = 0; i < starts.size(); ++i) {
        double x = c.px(starts[i].first);
        if (i > 0) {
          c.body << "<line x1=\"" << fmt("%.1f", x) << "\" y1=\"" << c.mt << "\" x2=\""
                 << fmt("%.1f", x) << "\" y2=\"" << c.h - c.mb << "\" stroke=\"#555\"/>";
        }
        c.body << "<text class=\"note\" x=\"" << fmt("%.1f", x + 4) << "\" y=\"" << c.mt + 14
               << "\">" << esc(starts[i].second) << "</text>";
      }
      c.body << "<path class=\"curve train\" d=\"" << line_path(tr, c)
             << "\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>";
      c.body << "<path class=\"curve val\" d=\"" << line_path(va, c)
             << "\" fill=\"none\" stroke=\"#555\" stroke-width=\"2\" stroke-dasharray=\"7,4\"/>";
      for (auto& [x, y] : tr)
        if (!std::isnan(y))
          c.body << "<circle cx=\"" << fmt("%.1f", c.px(x)) << "\" cy=\"" << fmt("%.1f", c.py(y))
                 << "\" r=\"2.5\" fill=\"#000\"/>";
      for (auto& [x, y] : va)
        if (!std::isnan(y))
          c.body << "<rect x=\"" << fmt("%.1f", c.px(x) - 2.5) << "\" y=\""
                 << fmt("%.1f", c.py(y) - 2.5) << "\" width=\"5\" height=\"5\" fill=\"#fff\" "
                 << "stroke=\"#555\"/>";
      o << "<div>" << c.svg() << "</div>";
    }
    o << "</div>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace shears::app
