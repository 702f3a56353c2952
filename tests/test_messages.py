"""The library names its parameters (`overwrite`, in backticks, carried on the error as data); the CLI
shows them as flags. A notebook user sees the keyword they passed, a shell user the flag they typed."""

from eqvl.commands.common import flag_message
from eqvl.errors import DataError, EqvlError


def test_backticked_parameters_become_flags_everywhere_in_the_message():
    exc = EqvlError("out already exists; pass `overwrite` to replace it or `resume` to finish it",
                    params=("overwrite", "resume"))
    assert exc.param == "overwrite" and exc.params == ("overwrite", "resume")
    assert flag_message(exc) == "out already exists; pass --overwrite to replace it or --resume to finish it"
    assert flag_message(EqvlError("set `skip_bad`=True to skip them", params=("skip_bad",))) == "set --skip-bad to skip them"


def test_a_bare_parameter_name_is_replaced_once_and_paths_are_left_alone():
    exc = EqvlError("eqsim_beta -1: must be >= 0", param="eqsim_beta")
    assert flag_message(exc) == "--eqsim-beta -1: must be >= 0"
    data = DataError("missing column(s) 'filepath' (see csv_img_key / csv_separator)", path="/tmp/out/train.csv",
                     line=1, params=("csv_img_key", "csv_separator"))
    assert flag_message(data) == ("/tmp/out/train.csv:1: missing column(s) 'filepath' (see --csv-img-key / "
                                  "--csv-separator)")
    assert flag_message(EqvlError("no parameter here")) == "no parameter here"
