// A small XML well-formedness check for the SVG `segflow bench` writes: one root element,
// every tag closed in order, attributes name="value" without '<' or a bare '&', text and
// values using only the five predefined entities. Returns "" when well-formed, else what
// is wrong and at which byte.
#pragma once

#include <cctype>
#include <string>
#include <vector>

namespace segflow::integration {

inline std::string XmlProblem(const std::string& x, std::string* root = nullptr,
                              size_t* elements = nullptr) {
  std::vector<std::string> open;
  size_t i = 0, count = 0;
  bool had_root = false;
  auto at = [&](const std::string& what) { return what + " at byte " + std::to_string(i); };
  auto entity_ok = [&](size_t p) {
    for (const char* e : {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"}) {
      if (x.compare(p, std::string(e).size(), e) == 0) return true;
    }
    return false;
  };
  auto name_at = [&](size_t p) {
    size_t e = p;
    while (e < x.size() && (std::isalnum(static_cast<unsigned char>(x[e])) || x[e] == '-' ||
                            x[e] == ':' || x[e] == '_' || x[e] == '.')) {
      ++e;
    }
    return x.substr(p, e - p);
  };
  if (x.rfind("<?xml", 0) == 0) {
    i = x.find("?>");
    if (i == std::string::npos) return "unterminated XML declaration";
    i += 2;
  }
  while (i < x.size()) {
    if (x[i] == '&') {
      if (!entity_ok(i)) return at("bare '&'");
      ++i;
      continue;
    }
    if (x[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(x[i])))
        return at("text outside the root");
      ++i;
      continue;
    }
    if (x.compare(i, 2, "</") == 0) {
      const std::string name = name_at(i + 2);
      if (open.empty() || open.back() != name) return at("closing </" + name + "> does not match");
      open.pop_back();
      i = x.find('>', i);
      if (i == std::string::npos) return "unterminated closing tag";
      ++i;
      continue;
    }
    const std::string name = name_at(i + 1);
    if (name.empty()) return at("'<' without a tag name");
    if (open.empty()) {
      if (had_root) return at("a second root element <" + name + ">");
      had_root = true;
      if (root != nullptr) *root = name;
    }
    ++count;
    i += 1 + name.size();
    for (;;) {  // attributes
      while (i < x.size() && std::isspace(static_cast<unsigned char>(x[i]))) ++i;
      if (i >= x.size()) return "unterminated tag <" + name + ">";
      if (x.compare(i, 2, "/>") == 0) {
        i += 2;
        break;
      }
      if (x[i] == '>') {
        open.push_back(name);
        ++i;
        break;
      }
      const std::string attr = name_at(i);
      if (attr.empty()) return at("bad attribute in <" + name + ">");
      i += attr.size();
      if (x.compare(i, 2, "=\"") != 0) return at("attribute " + attr + " without =\"value\"");
      i += 2;
      const size_t end = x.find('"', i);
      if (end == std::string::npos) return at("unterminated value of " + attr);
      for (size_t p = i; p < end; ++p) {
        if (x[p] == '<') return at("'<' in the value of " + attr);
        if (x[p] == '&' && !entity_ok(p)) return at("bare '&' in the value of " + attr);
      }
      i = end + 1;
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  if (!had_root) return "no root element";
  if (elements != nullptr) *elements = count;
  return "";
}

}  // namespace segflow::integration
