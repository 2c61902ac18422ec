"""Recipes that make a presenter from nothing but the package registries (`avatar recipe`).

- `runner`: steps skipped when current, redone when their inputs change, resumed when interrupted;
- `default`: the default recipe (`avatar recipe default`): its budgets, steps and model card section;
- `compare`: ranking the presenters made in one OUT (`avatar recipe compare`).
"""

from avatar.offline.recipe.compare import CHOICE_HEADING, compare, comparison_table, rank
from avatar.offline.recipe.default import (B_CHOICES, RECIPE_BUDGETS, RECIPE_HEADING, Recipe, RecipeBudget,
                                           card_section, library_is_current, read_stamp, run_recipe, step_keys, steps)
from avatar.offline.recipe.runner import Reporter, Step

__all__ = ["CHOICE_HEADING", "compare", "comparison_table", "rank", "B_CHOICES", "RECIPE_BUDGETS", "RECIPE_HEADING",
           "Recipe", "RecipeBudget", "card_section", "library_is_current", "read_stamp", "run_recipe", "step_keys",
           "steps", "Reporter", "Step"]
