"""Training losses on similarity matrices: itc, eqsim, ce, hardpos; combine with ``+``."""

from eqvl.losses.batch import LossBatch
from eqvl.losses.ce import CELoss, intra_modal_loss, rank_loss, update_tau
from eqvl.losses.eqsim import EqSimLoss, close_set, eqsim_loss, eqsim_terms
from eqvl.losses.hardpos import HardPosLoss, positive_contrastive_loss, positive_margin_loss
from eqvl.losses.itc import ITCLoss, itc_loss
from eqvl.losses.registry import CombinedLoss, LossTerm, available_losses, get_loss, register_loss
from eqvl.losses.spec import LossOption, LossSpec, all_loss_options, default_loss_options

__all__ = [
    "LossBatch", "LossTerm", "CombinedLoss", "register_loss", "get_loss", "available_losses", "LossOption",
    "LossSpec", "all_loss_options", "default_loss_options",
    "itc_loss", "ITCLoss", "eqsim_loss", "eqsim_terms", "close_set", "EqSimLoss", "rank_loss", "update_tau",
    "intra_modal_loss", "CELoss", "positive_contrastive_loss", "positive_margin_loss", "HardPosLoss",
]
