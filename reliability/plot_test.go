package reliability

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The soak plot is drawn with the standard library alone (image/png and a
// 5×7 bitmap font below), so that `make soak` needs nothing installed.

// series is one line of a panel.
type series struct {
	label string
	col   color.RGBA
	ys    []float64
}

// panel is one chart: a title and its lines over the shared x values.
type panel struct {
	title string
	lines []series
}

const (
	plotW      = 1000
	panelH     = 190
	plotLeft   = 80
	plotRight  = 20
	plotTop    = 30
	plotBottom = 30
	glyphScale = 2
)

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{215, 215, 215, 255}
	blue  = color.RGBA{31, 119, 180, 255}
	green = color.RGBA{44, 160, 44, 255}
	red   = color.RGBA{214, 39, 40, 255}
	plum  = color.RGBA{148, 103, 189, 255}
	amber = color.RGBA{255, 127, 14, 255}
)

// drawPlot renders panels stacked over xs (seconds) into a PNG at path.
func drawPlot(path, xlabel string, xs []float64, panels []panel) error {
	h := len(panels)*(panelH+plotTop+plotBottom) + 20
	img := image.NewRGBA(image.Rect(0, 0, plotW, h))
	fill(img, img.Bounds(), white)
	xmax := 1.0
	if len(xs) > 0 {
		xmax = math.Max(xs[len(xs)-1], 1)
	}
	for i, p := range panels {
		top := i*(panelH+plotTop+plotBottom) + plotTop
		area := image.Rect(plotLeft, top, plotW-plotRight, top+panelH)
		ymax := 0.0
		for _, s := range p.lines {
			for _, y := range s.ys {
				ymax = math.Max(ymax, y)
			}
		}
		ymax = niceCeil(ymax * 1.1)
		// Title and legend.
		x := drawText(img, plotLeft, top-22, p.title, black)
		for _, s := range p.lines {
			x += 24
			fill(img, image.Rect(x, top-16, x+16, top-12), s.col)
			x = drawText(img, x+22, top-22, s.label, s.col)
		}
		// Grid, y labels, frame.
		for k := 0; k <= 4; k++ {
			y := area.Max.Y - k*panelH/4
			hline(img, area.Min.X, area.Max.X, y, grey)
			label := formatTick(ymax * float64(k) / 4)
			drawText(img, area.Min.X-8-textWidth(label), y-7, label, black)
		}
		for k := 0; k <= 5; k++ {
			xp := area.Min.X + k*area.Dx()/5
			vline(img, xp, area.Min.Y, area.Max.Y, grey)
			label := formatTick(xmax * float64(k) / 5)
			drawText(img, xp-textWidth(label)/2, area.Max.Y+9, label, black)
		}
		frame(img, area, black)
		// Lines.
		for _, s := range p.lines {
			prevX, prevY := -1, -1
			for j, yv := range s.ys {
				if j >= len(xs) {
					break
				}
				px := area.Min.X + int(xs[j]/xmax*float64(area.Dx()))
				py := area.Max.Y - int(yv/ymax*float64(panelH))
				if prevX >= 0 {
					line(img, prevX, prevY, px, py, s.col)
					line(img, prevX, prevY+1, px, py+1, s.col)
				}
				prevX, prevY = px, py
			}
		}
	}
	drawText(img, plotW/2-textWidth(xlabel)/2, h-22, xlabel, black)
	f, err := os.Create(path) //nolint:gosec // the test's own output path
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	switch {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func frame(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X, r.Max.Y, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y, c)
	vline(img, r.Max.X, r.Min.Y, r.Max.Y, c)
}

// line draws with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func textWidth(s string) int { return len(s) * 6 * glyphScale }

// drawText writes s (upper-cased) with the bitmap font and returns the x
// after it.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) int {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if ok {
			for row, bits := range g {
				for col, b := range bits {
					if b == '#' {
						fill(img, image.Rect(x+col*glyphScale, y+row*glyphScale, x+(col+1)*glyphScale, y+(row+1)*glyphScale), c)
					}
				}
			}
		}
		x += 6 * glyphScale
	}
	return x
}

// glyphs is a 5×7 bitmap font of what the plot writes.
var glyphs = map[rune][7]string{
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"####.", "....#", "....#", ".###.", "....#", "....#", "####."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'/': {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."},
	'-': {".....", ".....", ".....", ".###.", ".....", ".....", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	'%': {"##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##"},
}

// TestDrawPlot renders two panels and checks the PNG: its size, and that
// each line's colour was drawn.
func TestDrawPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plot.png")
	xs := []float64{0, 1, 2, 3, 4}
	err := drawPlot(path, "time (s)", xs, []panel{
		{title: "requests/s", lines: []series{{label: "ok", col: blue, ys: []float64{10, 12, 11, 13, 12}}}},
		{title: "latency ms", lines: []series{{label: "p50", col: green, ys: []float64{1, 1, 1, 1, 1}}, {label: "p99", col: red, ys: []float64{3, 4, 3, 5, 4}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) //nolint:gosec // the test's temporary file
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != 2*(panelH+plotTop+plotBottom)+20 {
		t.Fatalf("size %v", b)
	}
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			counts[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	// Each line spans the plot's width (two pixels thick), beyond its
	// legend swatch and label.
	for _, c := range []color.RGBA{blue, green, red} {
		if counts[c] < plotW-plotLeft-plotRight {
			t.Errorf("colour %v: %d pixels, want a line across the plot", c, counts[c])
		}
	}
	if counts[black] == 0 {
		t.Error("no text or frame drawn")
	}
}
