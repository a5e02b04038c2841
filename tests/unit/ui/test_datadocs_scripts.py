"""Only the inline scripts GX's templates emit get a CSP hash; data slots hold data only."""

from __future__ import annotations

import pytest

from syncgate.ui.datadocs_scripts import allowed_handler, allowed_script, csp_hash, fixed_scripts

pytestmark = pytest.mark.unit

# As bootstrap_table.j2 renders the index's validation list (abridged data, same shape).
TABLE = """
  $('#section-1-content-block-2-1-body-table').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'validation_success', 'title': 'Status', 'sortable': 'true'}, {'field': 'run_time', 'filterDatepickerOptions': {'clearBtn': 'true'}}],
        data: [{'validation_success': '\\n <span class="x" >\\n <i class="fas fa-times text-danger ge-failed-icon" ></i>\\n </span>\\n ', '_run_time_sort': 1796578398.008617, 'run_name': 'it\\'s "quoted" </b>', 'n': -1, 'ok': True, 'none': None}],
        toolbar: '#section-1-content-block-2-1-body-table-toolbar'
      },
      {'search': 'true', 'sortOrder': 'desc', 'pagination': 'true'}
    )
  );

  

  
    $(document).ready(function() {
      $("#section-1-content-block-2-1-body-table").on('click-row.bs.table', function(e, row, $element) {
          window.location = $element.data("href");
        })
      }
    );
  
"""
TITLED = TABLE.replace(
    "\n\n  \n\n  \n",
    '\n\n  $("#section-2-body-table > thead").prepend(\'<tr><th class="p-2">Title</th></tr>\');\n\n  \n',
)
GRAPH = """
    // Assign the specification to a local variable vlSpec.
    vlSpec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "data": {"values": [{"x": 1.5, "y": null}]}, "mark": {"type": "bar", "clip": true}};
    // Embed the visualization in the container with id `vis`
    vegaEmbed('#section-3-content-block-2-graph-child-1', vlSpec, {
        actions: false
    }).then(result=>console.log(result)).catch(console.warn);
"""


def test_gx_scripts_are_recognised() -> None:
    assert allowed_script(TABLE) and allowed_script(TITLED) and allowed_script(GRAPH)
    assert TITLED != TABLE
    without_links = TABLE[: TABLE.index("$(document)")]
    assert allowed_script(without_links)


def test_the_fixed_scripts_come_from_the_installed_templates() -> None:
    bodies = fixed_scripts()
    assert any("function showAllValidations()" in b for b in bodies)
    assert any("function clearTableFilters(tableId)" in b for b in bodies)
    assert all(allowed_script(b) for b in bodies)
    assert not allowed_script(next(iter(bodies)) + "alert(1)")


COLUMNS = "[{'field': 'validation_success', 'title': 'Status', 'sortable': 'true'}, {'field': 'run_time', 'filterDatepickerOptions': {'clearBtn': 'true'}}]"
OPTIONS = "{'search': 'true', 'sortOrder': 'desc', 'pagination': 'true'}"
SPEC = GRAPH[GRAPH.index("vlSpec = ") + 9 : GRAPH.index(";\n")]


def _with_slots(slot: str) -> list[str]:
    """The GX scripts with one of their data slots replaced by ``slot``."""
    assert COLUMNS in TABLE and OPTIONS in TABLE and SPEC in GRAPH
    return [TABLE.replace(COLUMNS, slot), TABLE.replace(OPTIONS, slot), GRAPH.replace(SPEC, slot)]


def test_any_data_literal_fits_a_slot() -> None:
    for slot in ("[1, -2.5e3, 'a', \"b\", {'c': None, 'd': [True, false, null]}]", "{}", "'x'"):
        assert all(allowed_script(script) for script in _with_slots(slot)), slot


@pytest.mark.parametrize(
    "slot",
    [
        "[alert(1)]",  # a call
        "[window]",  # a name
        "[`${alert(1)}`]",  # a template literal
        "['a'] + alert(1)",  # code after the literal
        "[1]]), alert(1), ([1",  # closes the call early
        "['''x''']",  # Python-only string forms JavaScript reads otherwise
        "[r'x']",
        "[f'{x}']",
        "['a'\n'b']",
        "[{'a': 1}.constructor]",
        "[1] // comment",
        "[1",
        "[1[0]]",
        "[1 -alert]",
    ],
)
def test_a_data_slot_holding_anything_but_data_is_refused(slot: str) -> None:
    assert not any(allowed_script(script) for script in _with_slots(slot))


def test_code_around_the_slots_must_be_the_templates() -> None:
    assert not allowed_script(TABLE.replace("window.location", "window.top.location"))
    assert not allowed_script(TABLE + "fetch('/x');")
    assert not allowed_script("alert(1)")
    assert not allowed_script(TITLED.replace(".prepend('<tr>", ".prepend('x' + alert(1) + '<tr>"))
    assert not allowed_script(GRAPH.replace("console.warn", "eval"))


def test_handlers() -> None:
    assert allowed_handler("clearTableFilters('section-1-content-block-2-1-body-table')")
    assert allowed_handler("showAllValidations()") and allowed_handler("hideSucceededValidations()")
    for bad in ("clearTableFilters('x');alert(1)", "clearTableFilters('x')+alert(1)", "alert(1)", ""):
        assert not allowed_handler(bad), bad


def test_csp_hash() -> None:
    assert csp_hash("") == "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
