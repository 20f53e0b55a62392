"""After training: evaluate each model on the test set, compare them, and write the results.

The comparison is the project's point: a table of the models side by side, the
verdict (points of test accuracy gained, share of test errors removed), the test images
each model fixes (comparison.py), and the per-class accuracy that shows where
convolutions help. Used by train.py and the notebook.
"""

import keras
import numpy as np
import tensorflow as tf

from convlab import comparison, figures, files
from convlab.data import CLASS_NAMES, NUM_CLASSES, to_dataset


def evaluate(model, test, batch_size):
    """Test accuracy and loss, per-class accuracy and the confusion matrix, in one pass; and the model's
    probabilities for each test image, from which they come (what comparison.fixes compares).

    test: data.Images. Returns (metrics, probabilities (N, 10)).
    """
    probabilities = predict(model, test, batch_size)
    predicted = probabilities.argmax(axis=1)
    confusion = tf.math.confusion_matrix(test.labels, predicted, num_classes=NUM_CLASSES).numpy()
    loss = keras.losses.sparse_categorical_crossentropy(test.labels, probabilities)
    return {
        "test_accuracy": float(np.mean(predicted == test.labels)),
        "test_loss": float(np.mean(loss)),
        "per_class_accuracy": dict(zip(CLASS_NAMES, (confusion.diagonal() / confusion.sum(axis=1)).round(4).tolist())),
        "confusion_matrix": confusion.tolist(),
    }, probabilities


def accuracy(model, test, batch_size):
    """Test accuracy alone: for the network inside a model saved with its mirror."""
    return float(np.mean(predict(model, test, batch_size).argmax(axis=1) == test.labels))


def predict(model, test, batch_size):
    """The model's probabilities for the test images, batched as in training."""
    return model.predict(to_dataset(*test, batch_size), verbose=0)


def conv_stack(model):
    """The filters of each Conv2D layer, as the tables show them ("64, 64"); "-" for a network without one."""
    import keras

    from convlab.saved_models import network

    return ", ".join(str(layer.filters) for layer in network(model).layers
                     if isinstance(layer, keras.layers.Conv2D)) or "-"


def summarize(spec, model, history, metrics, run_folder, data, quick):
    """One model's line of results.json: its conv stack and size, training and test metrics, and its files.

    spec: recipe.ModelSpec; data: the run's data.Splits (what it trained and was watched on);
    quick: fewer images or epochs than the model's recipe, which the scripts that use the
    model say (saved_models.describe).
    """
    last = history[-1]
    return {
        "conv_stack": conv_stack(model),
        "parameters": model.count_params(),
        "epochs": len(history),
        "train_images": len(data.train.images),
        "validation_images": len(data.validation.images),
        "quick": quick,
        "train_seconds": round(sum(row["seconds"] for row in history), 1),
        "val_accuracy": last.get("val_accuracy"),
        **metrics,
        "model_file": run_folder.model(spec.name).name,
        "history_file": run_folder.history(spec.name).name,
        "snapshots_file": run_folder.snapshots(spec.name).name,
    }


def write_report(run_folder, results, histories, run_info, test, probabilities):
    """The figures and results.json, then the comparison on stdout.

    run_info: what results.json records about the run besides the models (settings, seed,
    precision, device, versions); test: data.Images; probabilities: {model: its (N, 10) answers
    for the test images}, from which each model's fixes over the first are counted.
    """
    baseline, *others = results
    found = [comparison.fixes(baseline, name, probabilities, test.labels) for name in others]
    for fixes in found:
        results[fixes.model][f"vs_{baseline}"] = {"fixed": len(fixes.fixed), "new_errors": len(fixes.broken)}
    figures.save(figures.training_curves(histories), run_folder.training_curves)
    figures.save(figures.per_class_accuracy(results, CLASS_NAMES), run_folder.per_class_figure)
    for name, result in results.items():
        title = f"{name}: test accuracy {result['test_accuracy']:.2%}"
        figures.save(figures.confusion_matrix(result["confusion_matrix"], CLASS_NAMES, title),
                     run_folder.confusion_figure(name))
    if found:  # the first model against the second: the dnn against the cnn, by default
        fixes = found[0]
        winner, loser = probabilities[fixes.model], probabilities[baseline]
        shown = [comparison.clearest(fixes.fixed, winner, loser, test.labels),
                 comparison.clearest(fixes.broken, loser, winner, test.labels)]
        figures.save(figures.fixes(fixes, shown, test, probabilities, CLASS_NAMES), run_folder.fixes_figure)
        figures.save(figures.accuracy_against_time(results), run_folder.exercises_figure)
    files.write_json(run_folder.results, {**run_info, "models": results})
    print("\n" + comparison_table(results) + "".join(f"\n{fixes.line()}" for fixes in found)
          + "\n\n" + per_class_table(results))


def comparison_table(results):
    """The models side by side, each with its gain over the first (the dnn, by default), then the verdicts."""
    baseline, *others = results
    stacks = {name: r.get("conv_stack", "-") for name, r in results.items()}  # runs before it have none
    name_width, stack_width = max(14, *(len(n) + 1 for n in results)), max(12, *(len(s) + 2 for s in stacks.values()))
    vs = f"vs {baseline}" if others else ""  # a gain needs two models
    lines = [f"{'model':<{name_width}}{'conv stack':>{stack_width}}{'params':>10}{'epochs':>8}{'train time':>12}"
             f"{'s/epoch':>9}{'val acc':>9}{'test acc':>10}{'test loss':>11}{vs:>{len(vs) + 2 if vs else 0}}"]
    for name, r in results.items():
        val = f"{r['val_accuracy']:.2%}" if r["val_accuracy"] is not None else "-"
        gain = "-" if name == baseline else f"{100 * (r['test_accuracy'] - results[baseline]['test_accuracy']):+.2f}"
        lines.append(f"{name:<{name_width}}{stacks[name]:>{stack_width}}{r['parameters']:>10,}{r['epochs']:>8}"
                     f"{r['train_seconds']:>10.0f} s{r['train_seconds'] / r['epochs']:>7.1f} s"
                     f"{val:>9}{r['test_accuracy']:>10.2%}{r['test_loss']:>11.4f}"
                     + (f"{gain:>{len(vs) + 2}}" if vs else ""))
    for name, r in results.items():
        if "test_accuracy_without_mirror" in r:
            lines.append(f"{name}: each answer averaged with the mirror image's; "
                         f"the network alone: {r['test_accuracy_without_mirror']:.2%} test accuracy")
    for name in others:
        gain = 100 * (results[name]["test_accuracy"] - results[baseline]["test_accuracy"])
        errors_before, errors_now = 1 - results[baseline]["test_accuracy"], 1 - results[name]["test_accuracy"]
        fewer = 1 - errors_now / errors_before if errors_before else 0.0
        lines.append(f"{name.upper()} vs {baseline.upper()}: {gain:+.1f} points test accuracy, "
                     f"{abs(fewer):.0%} {'fewer' if fewer >= 0 else 'more'} test errors")
    quick = [name for name, r in results.items() if r.get("quick")]
    if quick:
        lines.append(f"A quick run ({', '.join(quick)}: fewer images or epochs than the recipe): these numbers are "
                     "not the lesson's. `python train.py` trains the full models.")
    return "\n".join(lines)


def per_class_table(results):
    """Test accuracy per class, side by side: where convolutions help most."""
    width = max(9, *map(len, results)) + 2  # a column per model, wide enough for cnn:64,64,64
    lines = [f"{'test accuracy by class':<24}" + "".join(f"{name:>{width}}" for name in results)]
    for class_name in CLASS_NAMES:
        lines.append(f"{class_name:<24}" + "".join(f"{r['per_class_accuracy'][class_name]:>{width}.1%}"
                                                   for r in results.values()))
    return "\n".join(lines)
