/*
 * SMS segment counter for the admin's text fields: the same rules as
 * distributions/channels/segments.py (3GPP TS 23.038 sections 6.2.1 and 6.2.1.1; TS 23.040
 * section 9.2.3.24): GSM-7, 160 septets in one segment or 153 per part, characters of the
 * extension table counting two; UCS-2 when any character is outside both tables, 70 UTF-16 code
 * units or 67 per part. An escape pair or a surrogate pair is never split across parts.
 *
 * smsSegments(text) -> {encoding, characters, units, segments, perSegment, remaining}
 * attachSmsCounter(field, output): keeps `output`'s text up to date as `field` is typed in, and
 * marks it with the class "sms-multiple-segments" past one segment.
 * On an admin page, every textarea with the attribute data-sms-segments gets a counter below it;
 * its value, when set, is the length of the individual short link each ${l://SurveyURL} (or
 * ${l://SurveyLink...}) becomes, so the count is the sent text's. Other piped text is counted as
 * typed: its values are known only when the task runs.
 */
(function (global) {
  "use strict";

  var GSM_BASIC =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" +
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
    "¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENSION = "\f^{}\\[~]|€";
  var LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  function smsSegments(text) {
    var characters = Array.from(text);
    var gsm = characters.every(function (c) {
      return GSM_BASIC.indexOf(c) !== -1 || GSM_EXTENSION.indexOf(c) !== -1;
    });
    var encoding = gsm ? "GSM-7" : "UCS-2";
    var costs = characters.map(function (c) {
      if (gsm) return GSM_EXTENSION.indexOf(c) !== -1 ? 2 : 1;
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var single = LIMITS[encoding][0];
    var part = LIMITS[encoding][1];
    var result = { encoding: encoding, characters: characters.length, units: units };
    if (units <= single) {
      result.segments = characters.length ? 1 : 0;
      result.perSegment = single;
      result.remaining = single - units;
      return result;
    }
    var segments = 1;
    var used = 0;
    costs.forEach(function (cost) {
      if (used + cost > part) {
        segments += 1;
        used = 0;
      }
      used += cost;
    });
    result.segments = segments;
    result.perSegment = part;
    result.remaining = part - used;
    return result;
  }

  function describe(count) {
    var text = count.characters + " characters, " + count.segments + " segment" +
      (count.segments === 1 ? "" : "s") + " (" + count.encoding + ", " + count.remaining + " left)";
    if (count.segments > 1) {
      text += ": past one segment, each part is billed as one message";
    }
    return text;
  }

  var SURVEY_LINK = /\$\{l:\/\/Survey(URL|Link)[^}]*\}/g;

  function withLinks(text, linkLength) {
    if (!linkLength) return text;
    return text.replace(SURVEY_LINK, new Array(linkLength + 1).join("x"));
  }

  function attachSmsCounter(field, output) {
    var linkLength = parseInt(field.getAttribute("data-sms-segments"), 10) || 0;
    function update() {
      var count = smsSegments(withLinks(field.value, linkLength));
      output.textContent = describe(count);
      output.classList.toggle("sms-multiple-segments", count.segments > 1);
    }
    field.addEventListener("input", update);
    update();
    return update;
  }

  function attachAll(root) {
    root.querySelectorAll("textarea[data-sms-segments]").forEach(function (field) {
      if (field.dataset.smsCounter) return;
      field.dataset.smsCounter = "on";
      var output = document.createElement("div");
      output.className = "help sms-segment-count";
      output.setAttribute("aria-live", "polite");
      // Below the field's row, so the piped-text menu's button stays right beside the field.
      field.parentElement.insertAdjacentElement("afterend", output);
      attachSmsCounter(field, output);
    });
  }

  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { attachAll(document); });
    } else {
      attachAll(document);
    }
  }

  global.smsSegments = smsSegments;
  global.attachSmsCounter = attachSmsCounter;
  if (typeof module !== "undefined" && module.exports) {
    module.exports = { smsSegments: smsSegments, attachSmsCounter: attachSmsCounter };
  }
})(typeof window !== "undefined" ? window : globalThis);
