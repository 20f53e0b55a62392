"""Convolution and max pooling by hand, with numpy only: what a Conv2D and a MaxPooling2D layer compute.

A 3x3 filter passes over the image. Each new pixel is the sum of a 3x3 neighbourhood,
each neighbour multiplied by the filter's value at the same place. Depending on the
filter, vertical lines, horizontal lines or edges light up. 2x2 max pooling then keeps
the largest of each four pixels: the image is quartered and the highlights survive.

`convolve` and `max_pool` are the reference: explicit loops, written to be read.
`convolve_fast` and `max_pool_fast` compute the same a hundred times faster with
whole-array numpy (the tests prove them equal); the figures use them.
Used by visualize.py convolution and the notebook.
"""

import numpy as np

# Each filter weighs a 3x3 neighbourhood: positive weights on one side, negative on
# the other, so a pixel lights up where brightness changes across it and stays near
# 0 on flat areas. These are Sobel filters: a smoothed [-1, 0, 1] difference.
VERTICAL_LINES = np.array([[-1, 0, 1],
                           [-2, 0, 2],
                           [-1, 0, 1]])  # left-right change: vertical edges
HORIZONTAL_LINES = VERTICAL_LINES.T     # top-bottom change: horizontal edges
# The Laplacian: the four neighbours minus four times the centre. It answers "how
# different is this pixel from its surroundings?" in every direction: outlines.
EDGES = np.array([[0, 1, 0],
                  [1, -4, 1],
                  [0, 1, 0]])
FILTERS = {"vertical": VERTICAL_LINES, "horizontal": HORIZONTAL_LINES, "edges": EDGES}


def convolve(image, kernel):
    """Slide `kernel` over `image` where it fits entirely (VALID padding), with loops.

    Like tf.nn.conv2d and every deep-learning "convolution", this is a
    cross-correlation: the kernel is used as written, not flipped as in the
    textbook convolution. A learned filter does not care, but a hand-made one
    would light up the opposite edges if it were flipped.
    """
    # float64: uint8 pixels times negative weights would wrap around.
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    kernel_rows, kernel_cols = kernel.shape
    # A 3x3 kernel fits 26 times along 28 pixels: the output loses a 1-pixel border.
    out_rows, out_cols = image.shape[0] - kernel_rows + 1, image.shape[1] - kernel_cols + 1
    output = np.zeros((out_rows, out_cols))
    for row in range(out_rows):
        for col in range(out_cols):
            total = 0.0
            for i in range(kernel_rows):
                for j in range(kernel_cols):
                    total += image[row + i, col + j] * kernel[i, j]
            output[row, col] = total
    return output


def max_pool(image, size=2):
    """Keep the largest pixel of each size x size square, with loops.

    Like keras.layers.MaxPooling2D (VALID padding), a last row or column that
    does not fill a whole square is dropped: 13x13 pools to 6x6.
    """
    image = np.asarray(image)
    out_rows, out_cols = image.shape[0] // size, image.shape[1] // size
    output = np.zeros((out_rows, out_cols), dtype=image.dtype)
    for row in range(out_rows):
        for col in range(out_cols):
            largest = image[row * size, col * size]
            for i in range(size):
                for j in range(size):
                    largest = max(largest, image[row * size + i, col * size + j])
            output[row, col] = largest
    return output


def convolve_fast(image, kernel):
    """`convolve` without Python loops: every 3x3 window at once, multiplied and summed."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)  # (rows, cols, 3, 3)
    return np.einsum("rcij,ij->rc", windows, kernel)


def max_pool_fast(image, size=2):
    """`max_pool` without Python loops: crop to whole squares, give each its own axes, take the max."""
    image = np.asarray(image)
    rows, cols = image.shape[0] // size, image.shape[1] // size
    squares = image[: rows * size, : cols * size].reshape(rows, size, cols, size)
    return squares.max(axis=(1, 3))


def filter_and_pool(image, kernel):
    """One block of the course CNN, by hand: 3x3 convolution, ReLU, 2x2 max pooling.

    The ReLU (as in the CNN's Conv2D(activation="relu")) keeps only where the
    filter's pattern is present; pooling then keeps the strongest of each four.
    Returns the filtered image and the pooled one.
    """
    filtered = np.maximum(convolve_fast(image, kernel), 0)
    return filtered, max_pool_fast(filtered)


# --- the worked example for `python visualize.py convolution --explain ROW COL` ---


def explain(image, kernel, row, col, filter_name="chosen"):
    """The text of one output pixel's calculation, then of the 2x2 max pooling around it."""
    return "\n\n".join([explain_pixel(image, kernel, row, col, filter_name),
                        explain_pooling(image, kernel, row, col)])


def explain_pixel(image, kernel, row, col, filter_name):
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    size = len(kernel)  # a square filter
    neighbourhood = image[row: row + size, col: col + size]
    products = neighbourhood * kernel + 0.0  # + 0.0 turns -0 into 0
    total = products.sum()
    out_rows, out_cols = image.shape[0] - size + 1, image.shape[1] - size + 1
    lines = [
        f"Convolution: output pixel (row {row}, col {col}) of the {filter_name} filter.",
        f"A {size}x{size} filter fits {out_rows}x{out_cols} times on a {image.shape[0]}x{image.shape[1]} image "
        "(VALID padding: it never hangs over the edge),",
        f"so output pixel ({row}, {col}) comes from input rows {row}-{row + size - 1}, "
        f"columns {col}-{col + size - 1}, centred on input pixel ({row + size // 2}, {col + size // 2}).",
        "",
        *side_by_side(("neighbourhood", grid_lines(neighbourhood)), ("filter", grid_lines(kernel))),
        "",
        "Each neighbour times the filter's value at the same place. The filter is used as written,",
        "not flipped: deep learning's convolution is a cross-correlation (tf.nn.conv2d's too).",
    ]
    for (i, j), product in np.ndenumerate(products):
        pixel = f"input pixel ({row + i}, {col + j})"
        lines.append(f"  {neighbourhood[i, j]:6g} x {kernel[i, j]:2g} = {product:6g}    {pixel}")
    lines += [
        f"  {'':15}------",
        f"  {'sum =':>15}{total:6g}",
        f"ReLU, as in the CNN's Conv2D(activation=\"relu\"): max(0, {total:g}) = {max(total, 0):g}.",
    ]
    return "\n".join(lines)


def explain_pooling(image, kernel, row, col):
    """2x2 max pooling of the 4x4 block of the filtered image that holds pixel (row, col)."""
    filtered, pooled = filter_and_pool(image, kernel)
    # The block starts on even coordinates, so its 2x2 squares are the ones the pooling uses.
    top = min(row // 2 * 2, (filtered.shape[0] - 4) // 2 * 2)
    left = min(col // 2 * 2, (filtered.shape[1] - 4) // 2 * 2)
    block = filtered[top: top + 4, left: left + 4]
    lines = [
        f"Max pooling 2x2 turns the {filtered.shape[0]}x{filtered.shape[1]} filtered image (after ReLU) "
        f"into {pooled.shape[0]}x{pooled.shape[1]}.",
        f"Here its 4x4 block at rows {top}-{top + 3}, columns {left}-{left + 3}, around pixel ({row}, {col}):",
        f"each 2x2 square keeps only its largest value, giving pooled rows {top // 2}-{top // 2 + 1}, "
        f"columns {left // 2}-{left // 2 + 1}.",
        "",
        *side_by_side(("4x4 block", grid_lines(block, square=2)), ("2x2 pooled", grid_lines(max_pool(block)))),
    ]
    return "\n".join(lines)


def grid_lines(grid, square=None):
    """A small grid of numbers as text lines; `square` draws the pooling squares' borders."""
    def line(values):
        cells = [f"{value + 0.0:6g}" for value in values]  # + 0.0 prints -0 as 0
        if square:
            cells = [" ".join(cells[i: i + square]) for i in range(0, len(cells), square)]
        return " | ".join(cells) if square else " ".join(cells)

    lines = [line(values) for values in grid]
    if square:
        rule = "-+-".join("-" * len(part) for part in lines[0].split(" | "))
        lines = [*lines[:square], rule, *lines[square:]]
    return lines


def side_by_side(*titled_columns):
    """Blocks of text lines printed next to each other, each under its title."""
    columns = [[title, *lines] for title, lines in titled_columns]
    height = max(map(len, columns))
    widths = [max(map(len, column)) for column in columns]
    padded = [column + [""] * (height - len(column)) for column in columns]
    return ["     ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in zip(*padded)]
